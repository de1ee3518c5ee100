package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch (key 9): a group's committed offsets, for named partitions
// or all of them (v2+), for one group or a batch of groups (v8+).
func (s *Server) offsetFetchAPI() api {
	return api{key: 9, min: 0, max: 10, handle: handlerOf(s.handleOffsetFetch)}
}

func (s *Server) handleOffsetFetch(ctx context.Context, r *request, req *kmsg.OffsetFetchRequest) (kmsg.Response, error) {
	return s.deps.Groups.OffsetFetch(req), nil
}
