package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions (key 65): the transaction coordinator's record of
// transactional ids (kafka-transactions.sh describe).
func (s *Server) describeTransactionsAPI() api {
	return api{key: 65, min: 0, max: 0, handle: handlerOf(s.handleDescribeTransactions)}
}

func (s *Server) handleDescribeTransactions(ctx context.Context, r *request, req *kmsg.DescribeTransactionsRequest) (kmsg.Response, error) {
	allowed, denied := splitBy(req.TransactionalIDs, func(id string) bool { return r.may(opDescribe, resTxnID, id) })
	if len(denied) == 0 {
		return s.deps.Txns.DescribeTransactions(req), nil
	}
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	if len(allowed) > 0 {
		part := *req
		part.TransactionalIDs = allowed
		resp = s.deps.Txns.DescribeTransactions(&part)
	}
	for _, id := range denied {
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ErrorCode, ts.ProducerID = id, kerr.TransactionalIDAuthorizationFailed.Code, -1
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp, nil
}
