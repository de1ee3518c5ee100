package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete (key 47): removes a group's committed offsets of partitions
// its members do not subscribe to.
func (s *Server) offsetDeleteAPI() api {
	return api{key: 47, min: 0, max: 0, handle: handlerOf(s.handleOffsetDelete)}
}

func (s *Server) handleOffsetDelete(ctx context.Context, r *request, req *kmsg.OffsetDeleteRequest) (kmsg.Response, error) {
	return s.deps.Groups.OffsetDelete(ctx, req), nil
}
