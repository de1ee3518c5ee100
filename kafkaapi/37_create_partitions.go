package kafkaapi

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// CreatePartitions (key 37): grow a topic to a new partition count.
func (s *Server) createPartitionsAPI() api {
	return api{key: 37, min: 0, max: 3, handle: handlerOf(s.handleCreatePartitions)}
}

func (s *Server) handleCreatePartitions(ctx context.Context, r *request, req *kmsg.CreatePartitionsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	seen := make(map[string]int)
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if !r.may(opAlter, resTopic, rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		err := s.createPartitions(ctx, rt, req.ValidateOnly, seen[rt.Topic] > 1)
		st.ErrorCode, st.ErrorMessage = errorCode(err), errMessage(err)
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (s *Server) createPartitions(ctx context.Context, rt kmsg.CreatePartitionsRequestTopic, validateOnly, dup bool) error {
	if dup {
		return kerrWith(kerr.InvalidRequest, fmt.Errorf("topic %q appears more than once", rt.Topic))
	}
	t, ok := s.deps.Meta.Topic(rt.Topic)
	if !ok {
		return kerrWith(kerr.UnknownTopicOrPartition, fmt.Errorf("topic %q does not exist", rt.Topic))
	}
	cur := int32(len(t.Partitions))
	if rt.Count <= cur {
		return kerrWith(kerr.InvalidPartitions, fmt.Errorf("topic has %d partitions; the new count must be larger, got %d", cur, rt.Count))
	}
	leader := s.leaderPicker(rt.Topic)
	if rt.Assignment != nil {
		if int32(len(rt.Assignment)) != rt.Count-cur {
			return kerrWith(kerr.InvalidReplicaAssignment, fmt.Errorf("%d assignments for %d new partitions", len(rt.Assignment), rt.Count-cur))
		}
		for _, a := range rt.Assignment {
			if len(a.Replicas) == 0 || !s.brokerAlive(a.Replicas[0]) {
				return kerrWith(kerr.InvalidReplicaAssignment, fmt.Errorf("replicas %v do not start with a live broker", a.Replicas))
			}
		}
		leader = func(p int32) int32 { return rt.Assignment[p-cur].Replicas[0] }
	}
	if validateOnly {
		return nil
	}
	return s.deps.Meta.CreatePartitions(ctx, rt.Topic, rt.Count, leader)
}
