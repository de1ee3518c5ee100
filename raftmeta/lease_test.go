package raftmeta

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// waitUntil polls cond every 20 ms and fails the test naming what was
// awaited after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLease: every voter of a healthy group holds its lease (the leader by
// quorum checks, followers by the leader's heartbeats); a voter left
// alone loses it, whichever role it had, and never regains it alone. A
// single-node group always holds it.
func TestLease(t *testing.T) {
	const lease = 2 * time.Second
	c := newTestCluster(t, 3)
	li := c.leader()
	for _, s := range c.stores {
		waitUntil(t, "every voter holding its lease", func() bool { return s.HoldsLease(lease) })
	}
	// Leave the leader alone: it cannot confirm its leadership any more.
	alone := c.stores[li]
	for i := range c.stores {
		if i != li {
			c.stop(i)
		}
	}
	waitUntil(t, "the lone former leader losing its lease", func() bool { return !alone.HoldsLease(lease) })
	time.Sleep(3 * lease / 2)
	if alone.HoldsLease(lease) {
		t.Fatal("a voter without a quorum holds its lease again")
	}

	single := openLeader(t, singleNodeConfig(t, t.TempDir()))
	if !single.HoldsLease(time.Nanosecond) {
		t.Fatal("a single-node group does not hold its lease")
	}
}

// TestLeaseFollowerAlone: a follower whose leader and peer are gone loses
// its lease.
func TestLeaseFollowerAlone(t *testing.T) {
	const lease = 2 * time.Second
	c := newTestCluster(t, 3)
	li := c.leader()
	fi := (li + 1) % 3
	follower := c.stores[fi]
	waitUntil(t, "the follower holding its lease", func() bool { return follower.HoldsLease(lease) })
	c.stop(li)
	c.stop((li + 2) % 3)
	waitUntil(t, "the lone follower losing its lease", func() bool { return !follower.HoldsLease(lease) })
}

// TestPrepareTopic: creating and growing a topic calls PrepareTopic on the
// Raft leader first, for forwarded writes too, with the new partition
// count; a failure commits nothing and is ErrPrepareFailed on the
// proposer; writes the state machine will refuse prepare nothing.
func TestPrepareTopic(t *testing.T) {
	type call struct {
		node       int32
		topic      string
		partitions int32
	}
	var mu sync.Mutex
	var calls []call
	var deleted []string
	fail := false
	c := newTestCluster(t, 3)
	for i := range c.stores {
		c.stop(i)
		id := c.cfgs[i].NodeID
		c.cfgs[i].PrepareDeleteTopic = func(ctx context.Context, topic string) error {
			mu.Lock()
			defer mu.Unlock()
			deleted = append(deleted, topic)
			return nil
		}
		c.cfgs[i].PrepareTopic = func(ctx context.Context, topic string, partitions int32) error {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, call{id, topic, partitions})
			if fail {
				return errors.New("backend down")
			}
			return nil
		}
		c.start(i)
	}
	li := c.leader()
	leaderID := c.cfgs[li].NodeID
	follower := c.stores[(li+1)%3]
	ctx := testContext(t, 30*time.Second)
	if err := follower.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := follower.CreateTopic(ctx, "t", 3, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := follower.CreatePartitions(ctx, "t", 5, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := follower.CreateTopic(ctx, "t", 9, nil, nil); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("creating t again: %v, want ErrTopicExists", err)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	if _, err := follower.CreateTopic(ctx, "u", 2, nil, nil); !errors.Is(err, ErrPrepareFailed) {
		t.Fatalf("CreateTopic with a failing PrepareTopic: %v, want ErrPrepareFailed", err)
	}
	if _, ok := c.stores[li].Topic("u"); ok {
		t.Fatal("a topic whose preparation failed was committed")
	}
	if err := follower.DeleteTopic(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := follower.DeleteTopic(ctx, "t"); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("deleting t again: %v, want ErrUnknownTopic", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(deleted) != 1 || deleted[0] != "t" {
		t.Fatalf("PrepareDeleteTopic calls %v, want [t] (once: the second deletion is refused)", deleted)
	}
	want := []call{{leaderID, "t", 3}, {leaderID, "t", 5}, {leaderID, "u", 2}}
	if len(calls) != len(want) {
		t.Fatalf("PrepareTopic calls %+v, want %+v", calls, want)
	}
	for i := range want {
		if calls[i] != want[i] {
			t.Fatalf("PrepareTopic calls %+v, want %+v", calls, want)
		}
	}
}

// TestNewLeaderKnowsWhenPredecessorWentSilent: a leader elected because
// the previous one died reports it unreachable since it last heard from
// it, not since its own election.
func TestNewLeaderKnowsWhenPredecessorWentSilent(t *testing.T) {
	c := newTestCluster(t, 3)
	li := c.leader()
	oldID := c.cfgs[li].NodeID
	c.stop(li)
	stopped := time.Now() // it sent its last heartbeat before this
	var since time.Time
	waitUntil(t, "a new leader reporting its predecessor unreachable", func() bool {
		for _, s := range c.stores {
			if s != nil && s.IsLeader() {
				var ok bool
				since, ok = s.Unreachable()[oldID]
				return ok
			}
		}
		return false
	})
	// Elected at least a heartbeat timeout after the stop, it counts from
	// its last contact, which came before the stop (with slack for a busy
	// machine's scheduling).
	if since.After(stopped.Add(100 * time.Millisecond)) {
		t.Fatalf("the new leader counts its predecessor silent since %v, after it stopped at %v", since.Format(time.StampMilli), stopped.Format(time.StampMilli))
	}
}

// TestLeaseNotRenewedWithoutQuorum: a leader whose followers are gone but
// which has not stepped down yet (a long LeaderLeaseTimeout) loses its
// lease and does not get it back while no quorum answers.
func TestLeaseNotRenewedWithoutQuorum(t *testing.T) {
	const lease = 500 * time.Millisecond
	c := newTestCluster(t, 3)
	for i := range c.stores {
		c.stop(i)
		c.cfgs[i].LeaderLeaseTimeout = 3 * time.Second
		c.cfgs[i].HeartbeatTimeout = 3 * time.Second
		c.cfgs[i].ElectionTimeout = 3 * time.Second
	}
	for i := range c.stores {
		c.start(i)
	}
	li := c.leader()
	leader := c.stores[li]
	waitUntil(t, "the leader holding its lease", func() bool { return leader.HoldsLease(lease) })
	for i := range c.stores {
		if i != li {
			c.stop(i)
		}
	}
	waitUntil(t, "the leader losing its lease without followers", func() bool { return !leader.HoldsLease(lease) })
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && leader.IsLeader(); {
		if leader.HoldsLease(lease) {
			t.Fatal("a leader without a quorum renewed its lease")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
