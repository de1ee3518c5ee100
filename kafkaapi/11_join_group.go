package kafkaapi

import (
	"context"
	"net"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup (key 11): a member joins a group's rebalance. The request is
// parked until the join phase completes, which may take the group's
// rebalance timeout, so it runs on the connection's context.
func (s *Server) joinGroupAPI() api {
	return api{key: 11, min: 0, max: 9, blocking: true, handle: handlerOf(s.handleJoinGroup)}
}

func (s *Server) handleJoinGroup(ctx context.Context, r *request, req *kmsg.JoinGroupRequest) (kmsg.Response, error) {
	if !r.may(opRead, resGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode, resp.Generation = kerr.GroupAuthorizationFailed.Code, -1
		return resp, nil
	}
	return s.deps.Groups.JoinGroup(ctx, req, r.conn.clientID, clientHost(r.conn.nc.RemoteAddr())), nil
}

// clientHost is the member's host as Kafka reports it ("/127.0.0.1").
func clientHost(a net.Addr) string {
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		host = a.String()
	}
	return "/" + host
}
