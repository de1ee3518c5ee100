package raftmeta

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"github.com/kop-project/kop/scope"
)

// fsmState is the replicated metadata. It is only mutated by
// fsmState.apply (and replaced wholesale by Restore), so every node that
// applies the same log holds the same state.
type fsmState struct {
	brokers        map[int32]Broker
	topics         map[string]Topic
	topicIDs       map[TopicID]string // index: topic id -> name
	nextProducerID int64
	clusterID      string
	groups         map[string]Group        // consumer group metadata by id
	offsets        map[string]groupOffsets // committed offsets by group id
	tx             txnState                // transactions (txns.go)
	scram          map[ScramKey]ScramCredential
	aclSet         map[Acl]struct{}
}

func newFSMState() *fsmState {
	return &fsmState{
		brokers:  make(map[int32]Broker),
		topics:   make(map[string]Topic),
		topicIDs: make(map[TopicID]string),
		groups:   make(map[string]Group),
		offsets:  make(map[string]groupOffsets),
		tx:       newTxnState(),
		scram:    make(map[ScramKey]ScramCredential),
		aclSet:   make(map[Acl]struct{}),
	}
}

// apply is the one switch that applies a command. It is deterministic: the
// result depends only on the state and the command. It validates before it
// mutates, so a rejected command leaves the state untouched.
func (s *fsmState) apply(c command) (any, error) {
	switch c := c.(type) {
	case *registerBrokerCmd:
		s.brokers[c.Broker.ID] = c.Broker.clone()
		if s.clusterID == "" {
			s.clusterID = c.ClusterID
		}
		return nil, nil
	case *fenceBrokerCmd:
		b, ok := s.brokers[c.ID]
		if !ok {
			return nil, fmt.Errorf("%w: broker %d is not registered", ErrInvalidCommand, c.ID)
		}
		b.Fenced = c.Fenced
		s.brokers[c.ID] = b
		return nil, nil
	case *createTopicCmd:
		return s.createTopic(c)
	case *deleteTopicCmd:
		return nil, s.deleteTopic(c)
	case *createPartitionsCmd:
		return nil, s.createPartitions(c)
	case *setTopicConfigsCmd:
		return nil, s.setTopicConfigs(c)
	case *setPartitionLeaderCmd:
		return s.setPartitionLeader(c)
	case *allocateProducerIDsCmd:
		return s.allocateProducerIDs(c)
	case *putGroupCmd:
		s.putGroup(c)
		return nil, nil
	case *deleteGroupCmd:
		return nil, s.deleteGroup(c)
	case *commitOffsetsCmd:
		s.commitOffsets(c)
		return nil, nil
	case *deleteOffsetsCmd:
		return s.deleteOffsets(c)
	case *expireOffsetsCmd:
		return s.expireOffsets(c), nil
	case *putTxnCmd:
		return s.putTxn(c)
	case *txnOffsetCommitCmd:
		s.txnOffsetCommit(c)
		return nil, nil
	case *abortedTxnsCmd:
		s.abortedTxns(c)
		return nil, nil
	case *deleteTxnCmd:
		return nil, s.deleteTxn(c)
	case *alterScramCmd:
		s.alterScram(c)
		return nil, nil
	case *aclsCmd:
		s.acls(c)
		return nil, nil
	case *syncCmd:
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: no handler for %s", ErrInvalidCommand, c.commandType())
	}
}

func (s *fsmState) createTopic(c *createTopicCmd) (Topic, error) {
	if _, ok := s.topics[c.Name]; ok {
		return Topic{}, fmt.Errorf("topic %q: %w", c.Name, ErrTopicExists)
	}
	if other, ok := s.topicIDs[c.ID]; ok {
		return Topic{}, fmt.Errorf("%w: topic %q: id %s already belongs to topic %q", ErrInvalidCommand, c.Name, c.ID, other)
	}
	if other, ok := s.collidingTopic(c.Name); ok {
		// Kafka refuses names that differ only in '.' versus '_', because
		// they collide in metric names.
		return Topic{}, fmt.Errorf("%w: %q collides with existing topic %q ('.' and '_' are equivalent)", ErrInvalidTopic, c.Name, other)
	}
	t := Topic{
		Name:       c.Name,
		ID:         c.ID,
		Partitions: make([]Partition, len(c.Leaders)),
		Configs:    cloneMap(c.Configs),
		CreatedMs:  c.CreatedMs,
	}
	for i, l := range c.Leaders {
		t.Partitions[i] = Partition{Index: int32(i), Leader: l}
	}
	s.topics[t.Name] = t
	s.topicIDs[t.ID] = t.Name
	return t.clone(), nil
}

func (s *fsmState) collidingTopic(name string) (string, bool) {
	if !strings.ContainsAny(name, "._") {
		return "", false
	}
	key := collisionKey(name)
	for other := range s.topics {
		if collisionKey(other) == key {
			return other, true
		}
	}
	return "", false
}

// collisionKey is a stored topic name with '.' read as '_' in the topic
// part (a tenant namespace's name is Pulsar's and kept as it is).
func collisionKey(stored string) string {
	ns, name := scope.SplitTopic(stored)
	return string(ns) + "/" + strings.ReplaceAll(name, ".", "_")
}

func (s *fsmState) deleteTopic(c *deleteTopicCmd) error {
	t, ok := s.topics[c.Name]
	if !ok {
		return fmt.Errorf("topic %q: %w", c.Name, ErrUnknownTopic)
	}
	delete(s.topics, c.Name)
	delete(s.topicIDs, t.ID)
	s.removeTopicOffsets(c.Name)
	s.removeTopicTxns(c.Name)
	return nil
}

func (s *fsmState) createPartitions(c *createPartitionsCmd) error {
	t, ok := s.topics[c.Name]
	if !ok {
		return fmt.Errorf("topic %q: %w", c.Name, ErrUnknownTopic)
	}
	current := int32(len(t.Partitions))
	if c.Total <= current {
		return fmt.Errorf("topic %q has %d partitions, asked for %d: %w", c.Name, current, c.Total, ErrInvalidPartitions)
	}
	if first := c.Total - int32(len(c.Leaders)); first != current {
		return fmt.Errorf("topic %q has %d partitions, the request was made for %d (concurrent change; retry): %w", c.Name, current, first, ErrInvalidPartitions)
	}
	parts := slices.Grow(slices.Clone(t.Partitions), len(c.Leaders))
	for i, l := range c.Leaders {
		parts = append(parts, Partition{Index: current + int32(i), Leader: l})
	}
	t.Partitions = parts
	s.topics[c.Name] = t
	return nil
}

func (s *fsmState) setTopicConfigs(c *setTopicConfigsCmd) error {
	t, ok := s.topics[c.Name]
	if !ok {
		return fmt.Errorf("topic %q: %w", c.Name, ErrUnknownTopic)
	}
	t.Configs = cloneMap(c.Configs)
	s.topics[c.Name] = t
	return nil
}

func (s *fsmState) setPartitionLeader(c *setPartitionLeaderCmd) (int32, error) {
	t, ok := s.topics[c.Topic]
	if !ok {
		return 0, fmt.Errorf("topic %q: %w", c.Topic, ErrUnknownTopic)
	}
	if c.Partition < 0 || int(c.Partition) >= len(t.Partitions) {
		return 0, fmt.Errorf("topic %q partition %d (topic has %d): %w", c.Topic, c.Partition, len(t.Partitions), ErrUnknownPartition)
	}
	p := t.Partitions[c.Partition]
	if p.LeaderEpoch == 1<<31-1 {
		return 0, fmt.Errorf("%w: topic %q partition %d: leader epoch exhausted", ErrInvalidCommand, c.Topic, c.Partition)
	}
	// Copy on write: readers may hold the old slice.
	t.Partitions = slices.Clone(t.Partitions)
	t.Partitions[c.Partition] = Partition{Index: p.Index, Leader: c.Leader, LeaderEpoch: p.LeaderEpoch + 1}
	s.topics[c.Topic] = t
	return p.LeaderEpoch + 1, nil
}

func (s *fsmState) allocateProducerIDs(c *allocateProducerIDsCmd) (int64, error) {
	first := s.nextProducerID
	if first > 1<<63-1-c.Count {
		return 0, fmt.Errorf("asked for %d from %d: %w", c.Count, first, ErrProducerIDsExhausted)
	}
	s.nextProducerID = first + c.Count
	return first, nil
}

// fsm is the raft.FSM: the state behind an RWMutex, plus the Changed
// channel. Reads take the read lock and return copies.
type fsm struct {
	log *slog.Logger

	mu      sync.RWMutex
	state   *fsmState
	changed chan struct{} // closed and replaced after every state change

	halt haltState // set when a log entry of an unknown type is met (halt.go)

	// appliedIndex is the index of the last log entry Apply processed
	// (applied, rejected, skipped, or refused while halted), published
	// once its effect is visible to reads; restored is set by Restore and
	// cleared by the next Apply. Raft's AppliedIndex is not the same: it
	// counts entries handed to the FSM goroutine, which may not have
	// applied them yet (see Store.waitApplied).
	appliedIndex atomic.Uint64
	restored     atomic.Bool
	// aclVersion changes with the ACLs: on every ACL command and every
	// restore (Store.AclsVersion).
	aclVersion atomic.Uint64
}

var _ raft.FSM = (*fsm)(nil)

func newFSM(log *slog.Logger) *fsm {
	return &fsm{log: log, state: newFSMState(), changed: make(chan struct{}), halt: newHaltState()}
}

// Apply decodes and applies one committed log entry. Its response is either
// an error or the command's result (Topic, int32 epoch, int64 first id, int
// count, or nil).
//
// What is not applied, and why every node still agrees:
//   - a garbled entry of a known type (its body does not decode or does
//     not validate) yields an error and changes nothing, on every node
//     alike, since decoding and validation are deterministic;
//   - an entry of an ignorable type this node does not know (commands.go)
//     is skipped with a warning: by that type's contract, not applying it
//     leaves everything else this node holds correct;
//   - an entry of any other unknown type halts the FSM (halt.go): this
//     node cannot know what the entry does, so rather than diverge it
//     applies nothing more, that entry included, and every later Apply
//     returns an error matching ErrHalted without touching the state.
func (f *fsm) Apply(l *raft.Log) any {
	defer f.markApplied(l.Index) // runs last, after f.mu is released
	if l.Type != raft.LogCommand {
		return nil
	}
	if h := f.halt.haltErr(); h != nil {
		return fmt.Errorf("log entry %d not applied: %w", l.Index, h)
	}
	c, err := decodeCommand(l.Data)
	if err != nil {
		if unknown, ok := errors.AsType[*unknownCommandError](err); ok {
			if unknown.Type.ignorable() {
				f.log.Warn("raftmeta: skipping a log entry of an ignorable command type this broker does not know (written by a newer version)",
					"index", l.Index, "term", l.Term, "commandType", uint8(unknown.Type))
				return nil
			}
			return f.haltAt(l, unknown.Type)
		}
		f.log.Error("raftmeta: skipping undecodable log entry", "index", l.Index, "term", l.Term, "err", err)
		return fmt.Errorf("log entry %d: %w", l.Index, err)
	}
	if err := c.validate(); err != nil {
		f.log.Warn("raftmeta: rejecting invalid command", "index", l.Index, "command", c.commandType().String(), "err", err)
		return fmt.Errorf("%s: %w", c.commandType(), err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	resp, err := f.state.apply(c)
	if err != nil {
		return fmt.Errorf("%s: %w", c.commandType(), err)
	}
	// Offset commits arrive at consumer pace (many per second) and nobody
	// watches them: waking every Changed watcher (the node's reconcile
	// loop, for one) on each would cost much and tell nothing.
	if t := c.commandType(); t != cmdCommitOffsets && t != cmdSync {
		f.notifyLocked()
	}
	if c.commandType() == cmdAcls {
		f.aclVersion.Add(1)
	}
	return resp
}

func (f *fsm) markApplied(index uint64) {
	f.appliedIndex.Store(index)
	f.restored.Store(false)
}

// notifyLocked wakes Changed watchers. f.mu must be held for writing.
func (f *fsm) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fsm) Changed() <-chan struct{} {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.changed
}

func (f *fsm) clusterID() string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.clusterID
}

func (f *fsm) brokers() []Broker {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Broker, 0, len(f.state.brokers))
	for _, b := range f.state.brokers {
		out = append(out, b.clone())
	}
	slices.SortFunc(out, func(a, b Broker) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func (f *fsm) topic(name string) (Topic, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	t, ok := f.state.topics[name]
	if !ok {
		return Topic{}, false
	}
	return t.clone(), true
}

func (f *fsm) topicByID(id TopicID) (Topic, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	name, ok := f.state.topicIDs[id]
	if !ok {
		return Topic{}, false
	}
	return f.state.topics[name].clone(), true
}

func (f *fsm) topics() []Topic {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]Topic, 0, len(f.state.topics))
	for _, t := range f.state.topics {
		out = append(out, t.clone())
	}
	slices.SortFunc(out, func(a, b Topic) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (f *fsm) nextProducerID() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.state.nextProducerID
}
