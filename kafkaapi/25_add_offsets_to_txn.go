package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddOffsetsToTxn (key 25): a transactional producer adds a consumer
// group whose offsets it will commit in its transaction
// (sendOffsetsToTransaction).
func (s *Server) addOffsetsToTxnAPI() api {
	return api{key: 25, min: 0, max: 4, handle: handlerOf(s.handleAddOffsetsToTxn)}
}

func (s *Server) handleAddOffsetsToTxn(ctx context.Context, r *request, req *kmsg.AddOffsetsToTxnRequest) (kmsg.Response, error) {
	switch {
	case !r.may(opWrite, resTxnID, req.TransactionalID):
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	case !r.may(opRead, resGroup, req.Group):
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	return s.deps.Txns.AddOffsetsToTxn(ctx, req), nil
}
