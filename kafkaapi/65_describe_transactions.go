package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions (key 65): the transaction coordinator's record of
// transactional ids (kafka-transactions.sh describe).
func (s *Server) describeTransactionsAPI() api {
	return api{key: 65, min: 0, max: 0, handle: handlerOf(s.handleDescribeTransactions)}
}

func (s *Server) handleDescribeTransactions(ctx context.Context, r *request, req *kmsg.DescribeTransactionsRequest) (kmsg.Response, error) {
	return s.deps.Txns.DescribeTransactions(req), nil
}
