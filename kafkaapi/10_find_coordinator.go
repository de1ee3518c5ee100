package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator (key 10): every consumer group and every transactional
// id is coordinated by the Raft leader (see packages coordinator and
// coordinator/txn), so the answer is the leader's address on the client's
// listener.
func (s *Server) findCoordinatorAPI() api {
	return api{key: 10, min: 0, max: 6, handle: handlerOf(s.handleFindCoordinator)}
}

const (
	coordinatorGroup       = 0
	coordinatorTransaction = 1
)

func (s *Server) handleFindCoordinator(ctx context.Context, r *request, req *kmsg.FindCoordinatorRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	for _, k := range keys {
		c := s.findCoordinator(r.conn.lis.Name, req.CoordinatorType, k)
		if req.CoordinatorType == 0 && !r.may(opDescribe, resGroup, k) {
			c = kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.NodeID, c.Port, c.ErrorCode = k, -1, -1, kerr.GroupAuthorizationFailed.Code
		} else if req.CoordinatorType == 1 && !r.may(opDescribe, resTxnID, k) {
			c = kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.NodeID, c.Port, c.ErrorCode = k, -1, -1, kerr.TransactionalIDAuthorizationFailed.Code
		}
		if req.Version < 4 {
			resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
			resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
			break
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp, nil
}

func (s *Server) findCoordinator(listener string, typ int8, key string) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key, c.NodeID = key, -1
	fail := func(e *kerr.Error, msg string) kmsg.FindCoordinatorResponseCoordinator {
		c.ErrorCode, c.ErrorMessage = e.Code, &msg
		return c
	}
	switch {
	case typ != coordinatorGroup && typ != coordinatorTransaction:
		return fail(kerr.InvalidRequest, "unknown coordinator type")
	case key == "" && typ == coordinatorGroup:
		return fail(kerr.InvalidGroupID, "empty group id")
	case key == "":
		return fail(kerr.InvalidRequest, "empty transactional id")
	}
	leader, ok := s.deps.Meta.LeaderID()
	if !ok {
		return fail(kerr.CoordinatorNotAvailable, "no Raft leader elected")
	}
	for _, b := range s.brokersFor(listener) {
		if b.NodeID == leader {
			c.NodeID, c.Host, c.Port = b.NodeID, b.Host, b.Port
			return c
		}
	}
	return fail(kerr.CoordinatorNotAvailable, "the Raft leader has not registered its address yet")
}
