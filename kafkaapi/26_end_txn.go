package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn (key 26): commit or abort the producer's transaction; answered
// once its markers are written to every partition it touched. v0-v4; v5+
// (KIP-890 part 2, an epoch per transaction) is not served.
func (s *Server) endTxnAPI() api {
	return api{key: 26, min: 0, max: 4, handle: handlerOf(s.handleEndTxn)}
}

func (s *Server) handleEndTxn(ctx context.Context, r *request, req *kmsg.EndTxnRequest) (kmsg.Response, error) {
	if !r.may(opWrite, resTxnID, req.TransactionalID) {
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	}
	return s.deps.Txns.EndTxn(ctx, req), nil
}
