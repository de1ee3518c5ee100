package kafkaapi

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/storage"
)

// CreateTopics (key 19): create topics through Raft, with configs and
// validate-only. Data is stored once by the backend (the embedded log, or
// Pulsar/BookKeeper with its own replication), so a replication factor is
// accepted up to the number of live brokers, as Kafka would, and reported.
func (s *Server) createTopicsAPI() api {
	return api{key: 19, min: 0, max: 7, handle: handlerOf(s.handleCreateTopics)}
}

func (s *Server) handleCreateTopics(ctx context.Context, r *request, req *kmsg.CreateTopicsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := make(map[string]int)
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		if !r.may(opCreate, resCluster, clusterName) && !r.may(opCreate, resTopic, rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		err := s.createOne(ctx, req, rt, &st, seen[rt.Topic] > 1)
		if err != nil {
			st.ErrorCode = errorCode(err)
			st.ErrorMessage = errMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (s *Server) createOne(ctx context.Context, req *kmsg.CreateTopicsRequest, rt kmsg.CreateTopicsRequestTopic, st *kmsg.CreateTopicsResponseTopic, dup bool) error {
	if dup {
		return kerrWith(kerr.InvalidRequest, fmt.Errorf("topic %q appears more than once in the request", rt.Topic))
	}
	if err := raftmeta.ValidateTopicName(rt.Topic); err != nil {
		return err
	}
	n := rt.NumPartitions
	rf := rt.ReplicationFactor
	if len(rt.ReplicaAssignment) > 0 {
		if n != -1 || rf != -1 {
			return kerrWith(kerr.InvalidRequest, fmt.Errorf("both a replica assignment and partitions/replication factor given"))
		}
		n = int32(len(rt.ReplicaAssignment))
		rf = int16(len(rt.ReplicaAssignment[0].Replicas))
	}
	if n == -1 {
		n = s.deps.Config.DefaultNumPartitions
	}
	if rf == -1 {
		rf = 1
	}
	if n <= 0 {
		return kerrWith(kerr.InvalidPartitions, fmt.Errorf("number of partitions must be larger than 0, got %d", n))
	}
	if live := len(s.liveBrokers()); rf <= 0 || int(rf) > max(live, 1) {
		return kerrWith(kerr.InvalidReplicationFactor, fmt.Errorf("replication factor %d: must be between 1 and the %d live broker(s)", rf, max(live, 1)))
	}
	configs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if c.Value == nil {
			continue
		}
		if err := storage.ValidateTopicConfig(c.Name, *c.Value); err != nil {
			return err
		}
		configs[c.Name] = *c.Value
	}
	if _, ok := s.deps.Meta.Topic(rt.Topic); ok || isInternalTopic(rt.Topic) {
		return kerrWith(kerr.TopicAlreadyExists, fmt.Errorf("topic %q already exists", rt.Topic))
	}
	leader := s.leaderPicker(rt.Topic)
	if len(rt.ReplicaAssignment) > 0 {
		assigned := make(map[int32]int32, n)
		for _, a := range rt.ReplicaAssignment {
			if len(a.Replicas) == 0 || !s.brokerAlive(a.Replicas[0]) {
				return kerrWith(kerr.InvalidReplicaAssignment, fmt.Errorf("partition %d: replicas %v do not start with a live broker", a.Partition, a.Replicas))
			}
			assigned[a.Partition] = a.Replicas[0]
		}
		for p := int32(0); p < n; p++ {
			if _, ok := assigned[p]; !ok {
				return kerrWith(kerr.InvalidReplicaAssignment, fmt.Errorf("partitions must be numbered 0..%d", n-1))
			}
		}
		leader = func(p int32) int32 { return assigned[p] }
	}
	if _, err := storage.ParseTopicConfig(configs, s.deps.Config.TopicDefaults); err != nil {
		return err
	}
	st.NumPartitions, st.ReplicationFactor = n, rf
	st.Configs = s.createdConfigs(configs)
	if req.ValidateOnly {
		return nil
	}
	t, err := s.deps.Meta.CreateTopic(ctx, rt.Topic, n, configs, leader)
	if err != nil {
		return err
	}
	st.TopicID = t.ID
	s.log.Info("created topic", "topic", t.Name, "partitions", n)
	return nil
}

// createdConfigs lists a new topic's configs as CreateTopics v5+ reports.
func (s *Server) createdConfigs(explicit map[string]string) []kmsg.CreateTopicsResponseTopicConfig {
	var out []kmsg.CreateTopicsResponseTopicConfig
	for _, e := range s.topicConfigEntries(explicit, nil, false, false) {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.Value, c.ReadOnly, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, int8(e.Source), e.IsSensitive
		out = append(out, c)
	}
	return out
}
