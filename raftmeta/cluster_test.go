package raftmeta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
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
		// A follower's writes are forwarded to the leader, and the
		// follower reads its own write as soon as the call returns.
		id := c.cfgs[i].NodeID
		name := fmt.Sprintf("from-follower-%d", id)
		created, err := s.CreateTopic(ctx, name, 2, map[string]string{"retention.ms": "5"}, byPartition(id, leaderID))
		if err != nil || created.Name != name || len(created.Partitions) != 2 || created.Partitions[0].Leader != id || created.Configs["retention.ms"] != "5" {
			t.Fatalf("follower %d CreateTopic: %+v, %v", id, created, err)
		}
		if got, ok := s.Topic(name); !ok || got.ID != created.ID {
			t.Fatalf("follower %d does not read its own write: %+v, %v", id, got, ok)
		}
		if _, err := s.CreateTopic(ctx, "replicated", 1, nil, nil); !errors.Is(err, ErrTopicExists) {
			t.Fatalf("follower %d duplicate CreateTopic: %v; want ErrTopicExists", id, err)
		}
		if err := s.DeleteTopic(ctx, "never-created"); !errors.Is(err, ErrUnknownTopic) {
			t.Fatalf("follower %d DeleteTopic of an unknown topic: %v; want ErrUnknownTopic", id, err)
		}
		if epoch, err := s.SetPartitionLeader(ctx, name, 1, id); err != nil || epoch != 1 {
			t.Fatalf("follower %d SetPartitionLeader: epoch %d, %v; want 1", id, epoch, err)
		}
		if ids, err := s.AllocateProducerIDs(ctx, 10); err != nil || ids < first+1000 {
			t.Fatalf("follower %d AllocateProducerIDs: %d, %v (the leader's block was %d..%d)", id, ids, err, first, first+999)
		}
		if got, ok := leader.Topic(name); !ok || got.Partitions[1].Leader != id {
			t.Fatalf("the leader does not see follower %d's writes: %+v", id, got)
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

// TestForwardRefusesBadCommands: what arrives on the forwarding path comes
// from the network and is checked before it goes into the Raft log; a
// connection of unknown kind is closed.
func TestForwardRefusesBadCommands(t *testing.T) {
	c := newTestCluster(t, 1)
	s := c.stores[0]
	if err := s.WaitForLeader(testContext(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	before := s.raft.LastIndex()
	send := func(data []byte) forwardResponse {
		t.Helper()
		conn, err := dialKind(c.cfgs[0].BindAddress, 5*time.Second, connForward, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		if err := writeFrame(conn, data); err != nil {
			t.Fatal(err)
		}
		body, err := readFrame(conn)
		if err != nil {
			t.Fatal(err)
		}
		var resp forwardResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, data := range [][]byte{{0xff}, {0x7e, '{', '}'}, {0x8e, '{', '}'}, {byte(cmdCreateTopic), '{'}, append([]byte{byte(cmdCreateTopic)}, `{"name":"../bad","partitions":1}`...)} {
		if resp := send(data); resp.Sentinel != "invalid-command" && resp.Sentinel != "invalid-topic" || resp.Index != 0 {
			t.Fatalf("forwarded %q: %+v; want it refused before the log", data, resp)
		}
	}
	if after := s.raft.LastIndex(); after != before {
		t.Fatalf("refused commands reached the log: last index %d, was %d", after, before)
	}

	conn, err := dialKind(c.cfgs[0].BindAddress, 5*time.Second, 0x7f, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection of unknown kind was not closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("a connection of unknown kind was left open")
	}
}

// FuzzForwardResponse: the answer to a forwarded write comes off the
// network; reading it never panics and never allocates more than the
// frame bound.
func FuzzForwardResponse(f *testing.F) {
	frame := func(body string) []byte {
		var buf bytes.Buffer
		writeFrame(&buf, []byte(body))
		return buf.Bytes()
	}
	f.Add(frame(`{"index":7,"kind":"topic","result":{"name":"t","partitions":[{"index":0,"leader":1}]}}`))
	f.Add(frame(`{"index":3,"kind":"int64","result":1000}`))
	f.Add(frame(`{"error":"topic \"t\": raftmeta: topic already exists","sentinel":"topic-exists"}`))
	f.Add(frame(`{"kind":"int32","result":"x"}`))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, result, err := readForwardResponse(bytes.NewReader(data))
		if err != nil {
			return
		}
		if resp.Error == "" {
			switch result.(type) {
			case nil, Topic, int, int32, int64:
			default:
				t.Fatalf("result of type %T", result)
			}
		}
	})
}

// TestUnreachable: the leader reports a voter its heartbeats cannot reach,
// with the time it was last heard from, and forgets it once it is back;
// followers report nothing.
func TestUnreachable(t *testing.T) {
	c := newTestCluster(t, 3)
	li := c.leader()
	leader := c.stores[li]
	fi := (li + 1) % 3
	followerID := c.cfgs[fi].NodeID
	if got := leader.Unreachable(); len(got) != 0 {
		t.Fatalf("every voter is up, Unreachable = %v", got)
	}
	before := time.Now()
	c.stop(fi)
	deadline := time.Now().Add(10 * time.Second)
	for {
		since, ok := leader.Unreachable()[followerID]
		if ok {
			if since.After(time.Now()) || since.Before(before.Add(-5*time.Second)) {
				t.Fatalf("node %d unreachable since %v; stopped at %v", followerID, since, before)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d stopped, the leader never reported it unreachable", followerID)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if other := c.stores[(li+2)%3]; len(other.Unreachable()) != 0 {
		t.Fatalf("a follower reports unreachable voters: %v", other.Unreachable())
	}
	c.start(fi)
	deadline = time.Now().Add(10 * time.Second)
	// (Leadership may move meanwhile: whoever leads must report none.)
	for len(c.stores[c.leader()].Unreachable()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("node %d is back, the leader still reports %v", followerID, c.stores[c.leader()].Unreachable())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSync: after Sync, a follower's state holds what the leader
// committed before; without a quorum Sync fails by its deadline.
func TestSync(t *testing.T) {
	c := newTestCluster(t, 3)
	l := c.leader()
	f := (l + 1) % 3
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 20 {
		if _, err := c.stores[l].CreateTopic(ctx, fmt.Sprintf("sync-%d", i), 1, nil, func(int32) int32 { return 1 }); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.stores[f].Sync(ctx); err != nil {
		t.Fatalf("follower Sync: %v", err)
	}
	if _, ok := c.stores[f].Topic("sync-19"); !ok {
		t.Fatal("after Sync the follower does not have the leader's last topic")
	}
	if err := c.stores[l].Sync(ctx); err != nil {
		t.Fatalf("leader Sync: %v", err)
	}
	// Only this follower left: no leader, no quorum.
	c.stop(l)
	c.stop((l + 2) % 3)
	sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
	defer scancel()
	if err := c.stores[f].Sync(sctx); err == nil {
		t.Fatal("Sync without a quorum succeeded")
	}
}
