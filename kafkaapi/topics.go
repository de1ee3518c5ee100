package kafkaapi

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kop-project/kop/partition"
	"github.com/kop-project/kop/placement"
	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/storage"
)

// liveBrokers are the registered brokers that are not fenced: the ones
// Metadata lists and new partitions are given to.
func (s *Server) liveBrokers() []raftmeta.Broker {
	all := s.deps.Meta.Brokers()
	live := all[:0:0]
	for _, b := range all {
		if !b.Fenced {
			live = append(live, b)
		}
	}
	return live
}

// leaderPicker spreads a topic's partitions over the live brokers.
func (s *Server) leaderPicker(topic string) func(int32) int32 {
	brokers := s.liveBrokers()
	ids := make([]int32, 0, len(brokers))
	for _, b := range brokers {
		ids = append(ids, b.ID)
	}
	if len(ids) == 0 {
		ids = []int32{s.deps.NodeID}
	}
	return placement.Spread(topic, ids)
}

// topicConfig is the typed config of a topic over the broker defaults.
func (s *Server) topicConfig(t raftmeta.Topic) (storage.TopicConfig, error) {
	return storage.ParseTopicConfig(t.Configs, s.deps.Config.TopicDefaults)
}

// createTopic validates and creates a topic through Raft.
func (s *Server) createTopic(ctx context.Context, name string, partitions int32, configs map[string]string) (raftmeta.Topic, error) {
	if err := raftmeta.ValidateTopicName(name); err != nil {
		return raftmeta.Topic{}, err
	}
	if isInternalTopic(name) {
		return raftmeta.Topic{}, kerrWith(kerr.TopicAlreadyExists, fmt.Errorf("topic %q already exists (an internal topic)", name))
	}
	if partitions <= 0 {
		return raftmeta.Topic{}, kerrWith(kerr.InvalidPartitions, fmt.Errorf("number of partitions must be larger than 0, got %d", partitions))
	}
	if _, err := storage.ParseTopicConfig(configs, s.deps.Config.TopicDefaults); err != nil {
		return raftmeta.Topic{}, err
	}
	return s.deps.Meta.CreateTopic(ctx, name, partitions, configs, s.leaderPicker(name))
}

// partitionFor finds a partition this broker leads and opens it, or says
// with a Kafka error code why it cannot.
func (s *Server) partitionFor(ctx context.Context, t raftmeta.Topic, idx int32) (*partition.Partition, int16) {
	if idx < 0 || int(idx) >= len(t.Partitions) {
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	pm := t.Partitions[idx]
	if pm.Leader != s.deps.NodeID || !s.holdsLease() {
		// Without the lease (cut off from the metadata quorum, or frozen
		// and just woken) the partition may lead elsewhere already, and
		// opening it would take it from its new leader.
		return nil, kerr.NotLeaderForPartition.Code
	}
	cfg, err := s.topicConfig(t)
	if err != nil {
		return nil, kerr.InvalidConfig.Code
	}
	p, err := s.deps.Partitions.Acquire(ctx, storage.TopicPartition{Topic: t.Name, Partition: idx}, pm.LeaderEpoch, cfg)
	if err != nil {
		s.log.Warn("opening partition", "topic", t.Name, "partition", idx, "err", err)
		return nil, errorCode(err)
	}
	return p, 0
}

// holdsLease says whether this broker may act as a partition leader now
// (Deps.HoldsLease; always without one).
func (s *Server) holdsLease() bool { return s.deps.HoldsLease == nil || s.deps.HoldsLease() }

// checkLeaderEpoch applies KIP-320: a request naming a newer epoch than
// ours is ahead of us, an older one is fenced; -1 skips the check.
func checkLeaderEpoch(requested, ours int32) int16 {
	switch {
	case requested < 0 || requested == ours:
		return 0
	case requested > ours:
		return kerr.UnknownLeaderEpoch.Code
	default:
		return kerr.FencedLeaderEpoch.Code
	}
}

// codedError carries a Kafka error with a specific message.
type codedError struct {
	kerr *kerr.Error
	err  error
}

func (e *codedError) Error() string   { return e.err.Error() }
func (e *codedError) Unwrap() []error { return []error{e.kerr, e.err} }

func kerrWith(k *kerr.Error, err error) error { return &codedError{kerr: k, err: err} }
