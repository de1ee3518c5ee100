package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit (key 8): a group member (or a simple consumer, generation
// -1) stores its positions. The coordinator checks member and generation
// and writes the offsets through Raft before answering.
func (s *Server) offsetCommitAPI() api {
	return api{key: 8, min: 0, max: 10, handle: handlerOf(s.handleOffsetCommit)}
}

func (s *Server) handleOffsetCommit(ctx context.Context, r *request, req *kmsg.OffsetCommitRequest) (kmsg.Response, error) {
	return s.deps.Groups.OffsetCommit(ctx, req), nil
}
