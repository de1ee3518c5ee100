package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListTransactions (key 66): transactional ids by state, producer id and
// (v1) duration (kafka-transactions.sh list, find-hanging). v2's id
// pattern is not served.
func (s *Server) listTransactionsAPI() api {
	return api{key: 66, min: 0, max: 1, handle: handlerOf(s.handleListTransactions)}
}

func (s *Server) handleListTransactions(ctx context.Context, r *request, req *kmsg.ListTransactionsRequest) (kmsg.Response, error) {
	resp := s.deps.Txns.ListTransactions(req)
	kept := resp.TransactionStates[:0]
	for _, ts := range resp.TransactionStates {
		if r.may(opDescribe, resTxnID, ts.TransactionalID) {
			kept = append(kept, ts)
		}
	}
	resp.TransactionStates = kept
	return resp, nil
}
