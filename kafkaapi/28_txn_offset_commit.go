package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnOffsetCommit (key 28): offsets a transactional producer commits for
// a consumer group, visible to the group once the transaction commits.
func (s *Server) txnOffsetCommitAPI() api {
	return api{key: 28, min: 0, max: 4, handle: handlerOf(s.handleTxnOffsetCommit)}
}

func (s *Server) handleTxnOffsetCommit(ctx context.Context, r *request, req *kmsg.TxnOffsetCommitRequest) (kmsg.Response, error) {
	code := int16(0)
	switch {
	case !r.may(opWrite, resTxnID, req.TransactionalID):
		code = kerr.TransactionalIDAuthorizationFailed.Code
	case !r.may(opRead, resGroup, req.Group):
		code = kerr.GroupAuthorizationFailed.Code
	}
	denied := false
	for _, t := range req.Topics {
		denied = denied || !r.may(opRead, resTopic, t.Topic)
	}
	if code == 0 && !denied {
		return s.deps.Txns.TxnOffsetCommit(ctx, req), nil
	}
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			if code == 0 {
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
