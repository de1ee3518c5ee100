package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddPartitionsToTxn (key 24): a transactional producer names the
// partitions it is about to write in its transaction (package
// coordinator/txn). v0-v3, the producer's versions; v4+ (KIP-890's
// broker-to-broker batches) is not served.
func (s *Server) addPartitionsToTxnAPI() api {
	return api{key: 24, min: 0, max: 3, handle: handlerOf(s.handleAddPartitionsToTxn)}
}

func (s *Server) handleAddPartitionsToTxn(ctx context.Context, r *request, req *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
	return s.deps.Txns.AddPartitionsToTxn(ctx, req), nil
}
