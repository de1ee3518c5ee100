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
	// WRITE on the transactional id and READ on the group, or nothing is
	// committed; then, as Kafka does, the topics the principal may read
	// are committed and the others answer TOPIC_AUTHORIZATION_FAILED.
	code := int16(0)
	switch {
	case !r.may(opWrite, resTxnID, req.TransactionalID):
		code = kerr.TransactionalIDAuthorizationFailed.Code
	case !r.may(opRead, resGroup, req.Group):
		code = kerr.GroupAuthorizationFailed.Code
	}
	allowed, denied := []kmsg.TxnOffsetCommitRequestTopic(nil), req.Topics
	if code == 0 {
		allowed, denied = splitBy(req.Topics, func(t kmsg.TxnOffsetCommitRequestTopic) bool { return r.may(opRead, resTopic, t.Topic) })
	}
	if len(denied) == 0 {
		return s.deps.Txns.TxnOffsetCommit(ctx, req), nil
	}
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	if len(allowed) > 0 {
		part := *req
		part.Topics = allowed
		resp = s.deps.Txns.TxnOffsetCommit(ctx, &part)
	}
	if code == 0 {
		code = kerr.TopicAuthorizationFailed.Code
	}
	for _, t := range denied {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
