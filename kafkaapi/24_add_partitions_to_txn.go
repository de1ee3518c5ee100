package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
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
	// WRITE on the transactional id and on every topic; the request
	// fails as a whole otherwise (other partitions OPERATION_NOT_ATTEMPTED).
	txnOK := req.Version >= 4 || r.may(opWrite, resTxnID, req.TransactionalID)
	denied := map[string]bool{}
	for _, t := range req.Topics {
		if !r.may(opWrite, resTopic, t.Topic) {
			denied[t.Topic] = true
		}
	}
	if txnOK && len(denied) == 0 {
		return s.deps.Txns.AddPartitionsToTxn(ctx, req), nil
	}
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition = p
			switch {
			case !txnOK:
				rp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			case denied[t.Topic]:
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			default:
				rp.ErrorCode = kerr.OperationNotAttempted.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
