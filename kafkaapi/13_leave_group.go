package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// LeaveGroup (key 13): members leave a group at once instead of waiting
// for their sessions to expire; v3+ leaves a batch, by member or instance
// id.
func (s *Server) leaveGroupAPI() api {
	return api{key: 13, min: 0, max: 5, handle: handlerOf(s.handleLeaveGroup)}
}

func (s *Server) handleLeaveGroup(ctx context.Context, r *request, req *kmsg.LeaveGroupRequest) (kmsg.Response, error) {
	if !r.may(opRead, resGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	return s.deps.Groups.LeaveGroup(req), nil
}
