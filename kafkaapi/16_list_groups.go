package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups (key 16): every group this broker coordinates, filtered by
// state (v4+) and type (v5+).
func (s *Server) listGroupsAPI() api {
	return api{key: 16, min: 0, max: 5, handle: handlerOf(s.handleListGroups)}
}

func (s *Server) handleListGroups(ctx context.Context, r *request, req *kmsg.ListGroupsRequest) (kmsg.Response, error) {
	return s.deps.Groups.ListGroups(req), nil
}
