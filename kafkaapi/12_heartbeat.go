package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Heartbeat (key 12): a member keeps its session alive and learns of
// rebalances (REBALANCE_IN_PROGRESS).
func (s *Server) heartbeatAPI() api {
	return api{key: 12, min: 0, max: 4, handle: handlerOf(s.handleHeartbeat)}
}

func (s *Server) handleHeartbeat(ctx context.Context, r *request, req *kmsg.HeartbeatRequest) (kmsg.Response, error) {
	if !r.may(opRead, resGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	return s.deps.Groups.Heartbeat(req), nil
}
