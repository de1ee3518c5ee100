package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FindCoordinator (key 10): until the group coordinator lands, every key
// answers COORDINATOR_NOT_AVAILABLE, a retriable error.
func (s *Server) findCoordinatorAPI() api {
	return api{key: 10, min: 0, max: 6, handle: handlerOf(s.handleFindCoordinator)}
}

func (s *Server) handleFindCoordinator(ctx context.Context, r *request, req *kmsg.FindCoordinatorRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	msg := "the group and transaction coordinators are not available yet"
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID = kerr.CoordinatorNotAvailable.Code, &msg, -1
		return resp, nil
	}
	for _, k := range keys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key, c.NodeID = k, -1
		c.ErrorCode, c.ErrorMessage = kerr.CoordinatorNotAvailable.Code, &msg
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp, nil
}
