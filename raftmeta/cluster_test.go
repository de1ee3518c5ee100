package raftmeta

import (
	"errors"
	"testing"
	"time"
)

type testCluster struct {
	t      *testing.T
	cfgs   []Config
	stores []*Store // nil when stopped
}

func newTestCluster(t *testing.T, n int) *testCluster {
	c := &testCluster{t: t}
	var peers []Peer
	for i := range n {
		peers = append(peers, Peer{ID: int32(i + 1), Address: freePort(t)})
	}
	for i := range n {
		c.cfgs = append(c.cfgs, Config{
			NodeID:      peers[i].ID,
			DataDir:     t.TempDir(),
			BindAddress: peers[i].Address,
			Peers:       peers,
			Bootstrap:   true, // every voter bootstraps with the same peers
			Logger:      testLogger(t).With("test-node", peers[i].ID),
			// Short, but with headroom for a busy 2-core machine.
			HeartbeatTimeout:   200 * time.Millisecond,
			ElectionTimeout:    200 * time.Millisecond,
			LeaderLeaseTimeout: 100 * time.Millisecond,
		})
	}
	c.stores = make([]*Store, n)
	for i := range n {
		c.start(i)
	}
	return c
}

func (c *testCluster) start(i int) {
	c.stores[i] = openStore(c.t, c.cfgs[i])
}

func (c *testCluster) stop(i int) {
	if err := c.stores[i].Close(); err != nil {
		c.t.Fatalf("closing node %d: %v", c.cfgs[i].NodeID, err)
	}
	c.stores[i] = nil
}

// leader waits for exactly one running node to be leader and returns its index.
func (c *testCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		found := -1
		for i, s := range c.stores {
			if s != nil && s.IsLeader() {
				if found >= 0 {
					found = -2 // two leaders in different terms; wait it out
					break
				}
				found = i
			}
		}
		if found >= 0 {
			return found
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no single leader elected")
	return -1
}

// eventually waits until cond holds for store s, waking on Changed.
func eventually(t *testing.T, s *Store, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		ch := s.Changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-time.After(50 * time.Millisecond): // also covers leader catch-up without writes
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := newTestCluster(t, 3)
	for i, s := range c.stores {
		if err := s.WaitForLeader(testContext(t, 10*time.Second)); err != nil {
			t.Fatalf("node %d: %v", c.cfgs[i].NodeID, err)
		}
	}
	li := c.leader()
	leader := c.stores[li]
	leaderID := c.cfgs[li].NodeID
	ctx := testContext(t, 10*time.Second)

	topic, err := leader.CreateTopic(ctx, "replicated", 3, map[string]string{"retention.ms": "1"}, byPartition(1, 2, 3))
	if err != nil {
		t.Fatal(err)
	}
	first, err := leader.AllocateProducerIDs(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := leader.PutGroup(ctx, sampleGroup("cg", GroupStateStable)); err != nil {
		t.Fatal(err)
	}
	if err := leader.CommitOffsets(ctx, "cg", []OffsetCommit{commit("replicated", 1, 42, 1)}); err != nil {
		t.Fatal(err)
	}

	for i, s := range c.stores {
		if i == li {
			continue
		}
		eventually(t, s, "follower sees the topic", func() bool {
			got, ok := s.TopicByID(topic.ID)
			return ok && got.Name == "replicated" && len(got.Partitions) == 3
		})
		if id, ok := s.LeaderID(); !ok || id != leaderID {
			t.Fatalf("follower %d: LeaderID = %d, %v; want %d", c.cfgs[i].NodeID, id, ok, leaderID)
		}
		_, err := s.CreateTopic(ctx, "from-follower", 1, nil, nil)
		var nle *NotLeaderError
		if !errors.Is(err, ErrNotLeader) || !errors.As(err, &nle) || !nle.Known || nle.LeaderID != leaderID {
			t.Fatalf("follower write: %v (%+v)", err, nle)
		}
		if _, ok := s.Topic("from-follower"); ok {
			t.Fatal("follower write was applied")
		}
		eventually(t, s, "follower sees the committed offset", func() bool {
			o, ok := s.Offset("cg", OffsetKey{"replicated", 1})
			_, hasGroup := s.Group("cg")
			return ok && o.Offset == 42 && hasGroup
		})
		if err := s.CommitOffsets(ctx, "cg", []OffsetCommit{commit("replicated", 1, 43, 1)}); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("follower CommitOffsets: %v", err)
		}
	}

	// Kill the leader; the other two elect a new one that keeps the state.
	var watcher *Store
	for i, s := range c.stores {
		if i != li {
			watcher = s
		}
	}
	leaderChanged := watcher.LeaderChanged()
	c.stop(li)
	ni := c.leader()
	newLeader := c.stores[ni]
	select {
	case <-leaderChanged:
	case <-time.After(5 * time.Second):
		t.Fatal("LeaderChanged not closed after failover")
	}
	if err := newLeader.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if got, ok := newLeader.Topic("replicated"); !ok || got.ID != topic.ID {
		t.Fatalf("new leader lost the topic: %+v", got)
	}
	if o, ok := newLeader.Offset("cg", OffsetKey{"replicated", 1}); !ok || o.Offset != 42 {
		t.Fatalf("new leader lost the committed offset: %+v, %v", o, ok)
	}
	if err := newLeader.CommitOffsets(ctx, "cg", []OffsetCommit{commit("replicated", 1, 44, 1)}); err != nil {
		t.Fatal(err)
	}
	if _, err := newLeader.CreateTopic(ctx, "replicated", 1, nil, nil); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate on new leader: %v", err)
	}
	if _, err := newLeader.CreateTopic(ctx, "after-failover", 1, nil, byPartition(c.cfgs[ni].NodeID)); err != nil {
		t.Fatal(err)
	}
	next, err := newLeader.AllocateProducerIDs(ctx, 10)
	if err != nil || next < first+1000 {
		t.Fatalf("producer ids after failover: %d, %v (first block %d..%d)", next, err, first, first+999)
	}

	// The old leader comes back as a follower (no second bootstrap) and
	// catches up.
	c.start(li)
	back := c.stores[li]
	eventually(t, back, "restarted node catches up", func() bool {
		_, ok := back.Topic("after-failover")
		return ok
	})
	if back.IsLeader() && c.leader() != li {
		t.Fatal("two leaders")
	}
}
