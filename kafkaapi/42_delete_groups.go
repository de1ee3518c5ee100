package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups (key 42): empty groups are deleted with their committed
// offsets; groups with members get NON_EMPTY_GROUP.
func (s *Server) deleteGroupsAPI() api {
	return api{key: 42, min: 0, max: 3, handle: handlerOf(s.handleDeleteGroups)}
}

func (s *Server) handleDeleteGroups(ctx context.Context, r *request, req *kmsg.DeleteGroupsRequest) (kmsg.Response, error) {
	return s.deps.Groups.DeleteGroups(req), nil
}
