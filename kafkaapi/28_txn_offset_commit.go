package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnOffsetCommit (key 28): offsets a transactional producer commits for
// a consumer group, visible to the group once the transaction commits.
func (s *Server) txnOffsetCommitAPI() api {
	return api{key: 28, min: 0, max: 4, handle: handlerOf(s.handleTxnOffsetCommit)}
}

func (s *Server) handleTxnOffsetCommit(ctx context.Context, r *request, req *kmsg.TxnOffsetCommitRequest) (kmsg.Response, error) {
	return s.deps.Txns.TxnOffsetCommit(ctx, req), nil
}
