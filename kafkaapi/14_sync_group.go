package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup (key 14): the leader hands in the assignment and every member
// receives its share. Followers are parked until the leader's assignment
// is stored, so it runs on the connection's context.
func (s *Server) syncGroupAPI() api {
	return api{key: 14, min: 0, max: 5, blocking: true, handle: handlerOf(s.handleSyncGroup)}
}

func (s *Server) handleSyncGroup(ctx context.Context, r *request, req *kmsg.SyncGroupRequest) (kmsg.Response, error) {
	if !r.may(opRead, resGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	return s.deps.Groups.SyncGroup(ctx, req), nil
}
