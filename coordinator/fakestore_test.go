package coordinator

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/kop-project/kop/raftmeta"
)

// fakeStore is an in-memory Store for the coordinator's unit tests (the
// real one is raftmeta.Store, exercised end to end in e2e).
type fakeStore struct {
	mu        sync.Mutex
	leader    bool
	leaderCh  chan struct{}
	barrier   chan struct{} // when non-nil, Barrier waits for it
	commitErr error
	putErr    error
	// PutGroup and DeleteGroup of a group in blocked wait until its
	// channel is closed (or their context ends), each announcing itself
	// on entered first.
	blocked map[string]chan struct{}
	entered chan string
	groups  map[string]raftmeta.Group
	offsets map[string]map[raftmeta.OffsetKey]raftmeta.CommittedOffset
	topics  map[string]raftmeta.Topic
	// pending are offsets a transaction still to end committed.
	pending map[string]map[raftmeta.OffsetKey]bool
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		leader: true, leaderCh: make(chan struct{}),
		groups:  map[string]raftmeta.Group{},
		offsets: map[string]map[raftmeta.OffsetKey]raftmeta.CommittedOffset{},
		topics:  map[string]raftmeta.Topic{},
	}
}

func (s *fakeStore) addTopic(name string, partitions int, id byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.topics[name] = raftmeta.Topic{Name: name, ID: raftmeta.TopicID{id}, Partitions: make([]raftmeta.Partition, partitions)}
}

func (s *fakeStore) setLeader(v bool) {
	s.mu.Lock()
	s.leader = v
	close(s.leaderCh)
	s.leaderCh = make(chan struct{})
	s.mu.Unlock()
}

func (s *fakeStore) IsLeader() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.leader }
func (s *fakeStore) LeaderChanged() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.leaderCh
}

func (s *fakeStore) Barrier(ctx context.Context) error {
	s.mu.Lock()
	b := s.barrier
	s.mu.Unlock()
	if b == nil {
		return nil
	}
	select {
	case <-b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// block makes the writes of group id wait until release is called.
func (s *fakeStore) block(id string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	if s.blocked == nil {
		s.blocked = map[string]chan struct{}{}
		s.entered = make(chan string, 16)
	}
	s.blocked[id] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.blocked, id)
			s.mu.Unlock()
			close(ch)
		})
	}
}

// wait blocks a write of group id while the test says so.
func (s *fakeStore) wait(ctx context.Context, id string) error {
	s.mu.Lock()
	ch, entered := s.blocked[id], s.entered
	s.mu.Unlock()
	if ch == nil {
		return nil
	}
	select {
	case entered <- id:
	default:
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *fakeStore) PutGroup(ctx context.Context, g raftmeta.Group) error {
	if err := s.wait(ctx, g.ID); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.putErr != nil {
		return s.putErr
	}
	s.groups[g.ID] = g
	return nil
}

func (s *fakeStore) DeleteGroup(ctx context.Context, id string) error {
	if err := s.wait(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, g := s.groups[id]
	_, o := s.offsets[id]
	if !g && !o {
		return raftmeta.ErrUnknownGroup
	}
	delete(s.groups, id)
	delete(s.offsets, id)
	return nil
}

func (s *fakeStore) CommitOffsets(ctx context.Context, group string, commits []raftmeta.OffsetCommit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.commitErr != nil {
		return s.commitErr
	}
	m := s.offsets[group]
	if m == nil {
		m = map[raftmeta.OffsetKey]raftmeta.CommittedOffset{}
		s.offsets[group] = m
	}
	for _, c := range commits {
		m[c.OffsetKey] = c.CommittedOffset
	}
	return nil
}

func (s *fakeStore) DeleteOffsets(ctx context.Context, group string, keys []raftmeta.OffsetKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.offsets[group]
	if _, g := s.groups[group]; !ok && !g {
		return raftmeta.ErrUnknownGroup
	}
	for _, k := range keys {
		delete(m, k)
	}
	return nil
}

func (s *fakeStore) ExpireOffsets(ctx context.Context, nowMs, retentionMs int64) (int, error) {
	return 0, nil
}

func (s *fakeStore) Group(id string) (raftmeta.Group, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[id]
	return g, ok
}

func (s *fakeStore) Groups() []raftmeta.Group {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []raftmeta.Group
	for _, id := range slices.Sorted(maps.Keys(s.groups)) {
		out = append(out, s.groups[id])
	}
	return out
}

func (s *fakeStore) Offsets(group string) map[raftmeta.OffsetKey]raftmeta.CommittedOffset {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.offsets[group])
}

func (s *fakeStore) Offset(group string, k raftmeta.OffsetKey) (raftmeta.CommittedOffset, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.offsets[group][k]
	return o, ok
}

func (s *fakeStore) PendingTxnOffsets(group string, k raftmeta.OffsetKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending[group][k]
}

func (s *fakeStore) GroupIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := map[string]bool{}
	for id := range s.groups {
		ids[id] = true
	}
	for id := range s.offsets {
		ids[id] = true
	}
	return slices.Sorted(maps.Keys(ids))
}

func (s *fakeStore) Topic(name string) (raftmeta.Topic, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.topics[name]
	return t, ok
}

func (s *fakeStore) TopicByID(id [16]byte) (raftmeta.Topic, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.topics {
		if t.ID == raftmeta.TopicID(id) {
			return t, true
		}
	}
	return raftmeta.Topic{}, false
}
