package coordinator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

func newTestCoordinator(t *testing.T, s *fakeStore) *Coordinator {
	t.Helper()
	c := New(s, Config{
		// Long enough for members joining together to share a generation.
		InitialRebalanceDelay: 150 * time.Millisecond,
		MinSessionTimeout:     10 * time.Millisecond,
		MaxSessionTimeout:     time.Minute,
		MaxSize:               3,
		Logger:                slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	c.Start()
	t.Cleanup(c.Close)
	waitActive(t, c)
	return c
}

func waitActive(t *testing.T, c *Coordinator) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.mu.Lock()
		st := c.status
		c.mu.Unlock()
		if st == active {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("coordinator never became active")
		}
		time.Sleep(time.Millisecond)
	}
}

// memberCount is how many members the group has, -1 when there is no such
// group.
func memberCount(c *Coordinator, id string) int {
	c.mu.Lock()
	g := c.groups[id]
	c.mu.Unlock()
	if g == nil {
		return -1
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.members)
}

func errOf(code int16) error { return kerr.ErrorForCode(code) }

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	if want == nil && got != 0 || want != nil && got != want.Code {
		t.Fatalf("%s: %v, want %v", what, errOf(got), want)
	}
}

// consumerMeta is a consumer protocol subscription to topics.
func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Topics = topics
	return m.AppendTo(nil)
}

func joinReq(group, member string, session int32, protocols ...string) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group, r.MemberID, r.ProtocolType = group, member, "consumer"
	r.SessionTimeoutMillis, r.RebalanceTimeoutMillis = session, 2000
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	for _, p := range protocols {
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name, jp.Metadata = p, consumerMeta("t")
		r.Protocols = append(r.Protocols, jp)
	}
	return r
}

// join runs the KIP-394 handshake and the join phase for one member.
func join(t *testing.T, c *Coordinator, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp := c.JoinGroup(ctx, req, "client", "/127.0.0.1")
	if resp.ErrorCode == kerr.MemberIDRequired.Code {
		req.MemberID = resp.MemberID
		resp = c.JoinGroup(ctx, req, "client", "/127.0.0.1")
	}
	return resp
}

func syncReq(group, member string, gen int32, assign map[string][]byte) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group, r.MemberID, r.Generation = group, member, gen
	for m, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = m, a
		r.GroupAssignment = append(r.GroupAssignment, ga)
	}
	return r
}

func heartbeat(c *Coordinator, group, member string, gen int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Group, r.MemberID, r.Generation = group, member, gen
	return c.Heartbeat(r).ErrorCode
}

func commitReq(group, member string, gen int32, topic string, partition int32, offset int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.MemberID, r.Generation = group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	r.Topics = append(r.Topics, rt)
	return r
}

func commitCode(c *Coordinator, r *kmsg.OffsetCommitRequest) int16 {
	return c.OffsetCommit(context.Background(), r).Topics[0].Partitions[0].ErrorCode
}

// stableGroup makes a Stable group with one member and returns its id and
// generation.
func stableGroup(t *testing.T, c *Coordinator, group string) (string, int32) {
	t.Helper()
	return stableGroupWithSession(t, c, group, 5000)
}

// stableGroupWithSession makes group Stable with one member whose session
// timeout is sessionMs, and returns its id and generation.
func stableGroupWithSession(t *testing.T, c *Coordinator, group string, sessionMs int32) (string, int32) {
	t.Helper()
	jr := join(t, c, joinReq(group, "", sessionMs))
	wantCode(t, "join", jr.ErrorCode, nil)
	sr := c.SyncGroup(context.Background(), syncReq(group, jr.MemberID, jr.Generation, map[string][]byte{jr.MemberID: []byte("a")}))
	wantCode(t, "sync", sr.ErrorCode, nil)
	return jr.MemberID, jr.Generation
}

func TestJoinSyncTwoMembers(t *testing.T) {
	s := newFakeStore()
	c := newTestCoordinator(t, s)

	// KIP-394: the first join hands out a member id.
	r := c.JoinGroup(context.Background(), joinReq("g", "", 5000), "client", "/h")
	wantCode(t, "first join", r.ErrorCode, kerr.MemberIDRequired)
	if r.MemberID == "" {
		t.Fatal("MEMBER_ID_REQUIRED without a member id")
	}

	// Two members join concurrently; the join phase completes when both
	// are in (the initial delay waits for the second, even on a busy
	// machine).
	c.mu.Lock()
	c.cfg.InitialRebalanceDelay = time.Second
	c.mu.Unlock()
	type res struct{ r *kmsg.JoinGroupResponse }
	out := make(chan res, 2)
	for range 2 {
		go func() { out <- res{join(t, c, joinReq("g", "", 5000, "roundrobin", "range"))} }()
	}
	a, b := (<-out).r, (<-out).r
	wantCode(t, "join a", a.ErrorCode, nil)
	wantCode(t, "join b", b.ErrorCode, nil)
	if a.Generation != b.Generation || *a.Protocol != "roundrobin" {
		t.Fatalf("generations %d/%d, protocol %q", a.Generation, b.Generation, *a.Protocol)
	}
	leader, follower := a, b
	if b.MemberID == b.LeaderID {
		leader, follower = b, a
	}
	if len(leader.Members) != 2 || len(follower.Members) != 0 {
		t.Fatalf("leader sees %d members, follower %d", len(leader.Members), len(follower.Members))
	}

	// The follower's SyncGroup waits for the leader's assignment.
	fsync := make(chan *kmsg.SyncGroupResponse, 1)
	go func() {
		fsync <- c.SyncGroup(context.Background(), syncReq("g", follower.MemberID, follower.Generation, nil))
	}()
	lr := c.SyncGroup(context.Background(), syncReq("g", leader.MemberID, leader.Generation, map[string][]byte{
		leader.MemberID: []byte("L"), follower.MemberID: []byte("F"),
	}))
	wantCode(t, "leader sync", lr.ErrorCode, nil)
	fr := <-fsync
	wantCode(t, "follower sync", fr.ErrorCode, nil)
	if string(lr.MemberAssignment) != "L" || string(fr.MemberAssignment) != "F" {
		t.Fatalf("assignments %q %q", lr.MemberAssignment, fr.MemberAssignment)
	}
	if g, ok := s.Group("g"); !ok || g.State != raftmeta.GroupStateStable || len(g.Members) != 2 {
		t.Fatalf("stored group %+v", g)
	}

	d := c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"g"}})
	if g := d.Groups[0]; g.State != "Stable" || g.Protocol != "roundrobin" || len(g.Members) != 2 {
		t.Fatalf("describe %+v", g)
	}

	// Heartbeats: current member fine; wrong generation, unknown member.
	wantCode(t, "heartbeat", heartbeat(c, "g", leader.MemberID, leader.Generation), nil)
	wantCode(t, "stale heartbeat", heartbeat(c, "g", leader.MemberID, leader.Generation-1), kerr.IllegalGeneration)
	wantCode(t, "unknown heartbeat", heartbeat(c, "g", "nobody", leader.Generation), kerr.UnknownMemberID)

	// A third member joining puts the group into a rebalance.
	go join(t, c, joinReq("g", "", 5000, "range", "roundrobin"))
	waitFor(t, func() bool {
		return heartbeat(c, "g", leader.MemberID, leader.Generation) == kerr.RebalanceInProgress.Code
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestJoinValidation(t *testing.T) {
	c := newTestCoordinator(t, newFakeStore())
	ctx := context.Background()
	r := c.JoinGroup(ctx, joinReq("", "", 5000), "c", "h")
	wantCode(t, "empty group", r.ErrorCode, kerr.InvalidGroupID)
	r = c.JoinGroup(ctx, joinReq("g", "", 1), "c", "h")
	wantCode(t, "session too short", r.ErrorCode, kerr.InvalidSessionTimeout)
	r = c.JoinGroup(ctx, joinReq("g", "", int32(time.Hour/time.Millisecond)), "c", "h")
	wantCode(t, "session too long", r.ErrorCode, kerr.InvalidSessionTimeout)
	r = c.JoinGroup(ctx, joinReq("g", "unknown-member", 5000), "c", "h")
	wantCode(t, "unknown member of unknown group", r.ErrorCode, kerr.UnknownMemberID)

	stableGroup(t, c, "g")
	other := joinReq("g", "", 5000, "sticky")
	wantCode(t, "no common protocol", join(t, c, other).ErrorCode, kerr.InconsistentGroupProtocol)
	typ := joinReq("g", "", 5000)
	typ.ProtocolType = "connect"
	wantCode(t, "other protocol type", join(t, c, typ).ErrorCode, kerr.InconsistentGroupProtocol)
}

func TestGroupMaxSize(t *testing.T) {
	c := newTestCoordinator(t, newFakeStore())
	for range 3 {
		go join(t, c, joinReq("full", "", 5000))
	}
	waitFor(t, func() bool { return memberCount(c, "full") == 3 })
	r := join(t, c, joinReq("full", "", 5000))
	wantCode(t, "fourth member", r.ErrorCode, kerr.GroupMaxSizeReached)
}

func TestSessionExpiry(t *testing.T) {
	c := newTestCoordinator(t, newFakeStore())
	c.mu.Lock()
	c.cfg.InitialRebalanceDelay = time.Second // both join one generation
	c.mu.Unlock()
	// a and b join with short sessions; b never heartbeats again.
	out := make(chan *kmsg.JoinGroupResponse, 2)
	for range 2 {
		go func() { out <- join(t, c, joinReq("g", "", 300)) }()
	}
	a, b := <-out, <-out
	if a.MemberID != a.LeaderID {
		a, b = b, a
	}
	c.SyncGroup(context.Background(), syncReq("g", a.MemberID, a.Generation, nil))
	// a keeps heartbeating until the group rebalances without b.
	waitFor(t, func() bool { return heartbeat(c, "g", a.MemberID, a.Generation) == kerr.RebalanceInProgress.Code })
	r := join(t, c, joinReq("g", a.MemberID, 300))
	wantCode(t, "rejoin", r.ErrorCode, nil)
	if len(r.Members) != 1 || r.Members[0].MemberID != a.MemberID || r.Generation != a.Generation+1 {
		t.Fatalf("after b's session expired: %d members, generation %d", len(r.Members), r.Generation)
	}
	wantCode(t, "expired member heartbeat", heartbeat(c, "g", b.MemberID, r.Generation), kerr.UnknownMemberID)
}

func TestOffsetCommitChecks(t *testing.T) {
	s := newFakeStore()
	s.addTopic("t", 2, 1)
	c := newTestCoordinator(t, s)
	member, gen := stableGroup(t, c, "g")

	wantCode(t, "stale generation", commitCode(c, commitReq("g", member, gen-1, "t", 0, 5)), kerr.IllegalGeneration)
	wantCode(t, "unknown member", commitCode(c, commitReq("g", "x", gen, "t", 0, 5)), kerr.UnknownMemberID)
	wantCode(t, "simple commit to a group with members", commitCode(c, commitReq("g", "", -1, "t", 0, 5)), kerr.UnknownMemberID)
	wantCode(t, "unknown topic", commitCode(c, commitReq("g", member, gen, "nope", 0, 5)), kerr.UnknownTopicOrPartition)
	wantCode(t, "partition out of range", commitCode(c, commitReq("g", member, gen, "t", 2, 5)), kerr.UnknownTopicOrPartition)
	big := commitReq("g", member, gen, "t", 0, 5)
	meta := string(make([]byte, 5000))
	big.Topics[0].Partitions[0].Metadata = &meta
	wantCode(t, "metadata too large", commitCode(c, big), kerr.OffsetMetadataTooLarge)
	wantCode(t, "current member", commitCode(c, commitReq("g", member, gen, "t", 1, 42)), nil)
	if o, ok := s.Offset("g", raftmeta.OffsetKey{Topic: "t", Partition: 1}); !ok || o.Offset != 42 {
		t.Fatalf("stored offset %+v %v", o, ok)
	}
	wantCode(t, "simple commit, unknown group", commitCode(c, commitReq("simple", "", -1, "t", 0, 7)), nil)
	wantCode(t, "unknown group with a generation", commitCode(c, commitReq("other", "m", 3, "t", 0, 7)), kerr.IllegalGeneration)
	wantCode(t, "empty group id", commitCode(c, commitReq("", "", -1, "t", 0, 7)), kerr.InvalidGroupID)

	// v10 names topics by id.
	byID := commitReq("simple", "", -1, "", 0, 9)
	byID.Version = 10
	byID.Topics[0].TopicID = [16]byte{1}
	wantCode(t, "by topic id", commitCode(c, byID), nil)
	byID.Topics[0].TopicID = [16]byte{9}
	wantCode(t, "unknown topic id", commitCode(c, byID), kerr.UnknownTopicID)

	// Store failures map to retriable coordinator errors.
	s.mu.Lock()
	s.commitErr = fmt.Errorf("raft: %w", raftmeta.ErrNotLeader)
	s.mu.Unlock()
	wantCode(t, "store lost leadership", commitCode(c, commitReq("g", member, gen, "t", 0, 1)), kerr.NotCoordinator)
	s.mu.Lock()
	s.commitErr = context.DeadlineExceeded
	s.mu.Unlock()
	wantCode(t, "store timed out", commitCode(c, commitReq("g", member, gen, "t", 0, 1)), kerr.CoordinatorNotAvailable)
}

func TestOffsetFetch(t *testing.T) {
	s := newFakeStore()
	s.addTopic("t", 3, 1)
	s.addTopic("u", 1, 2)
	c := newTestCoordinator(t, s)
	commitCode(c, commitReq("g", "", -1, "t", 2, 20))
	commitCode(c, commitReq("g", "", -1, "u", 0, 5))
	commitCode(c, commitReq("g", "", -1, "t", 0, 10))

	// Named partitions of an unknown group: -1, no error.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version = 7
	req.Group = "unknown"
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0, 1}
	req.Topics = append(req.Topics, rt)
	r := c.OffsetFetch(req)
	if r.ErrorCode != 0 || r.Topics[0].Partitions[0].Offset != -1 || r.Topics[0].Partitions[1].Offset != -1 {
		t.Fatalf("unknown group: %+v", r)
	}
	// All partitions (nil topics), sorted.
	req.Group, req.Topics = "g", nil
	r = c.OffsetFetch(req)
	got := ""
	for _, tt := range r.Topics {
		for _, p := range tt.Partitions {
			got += fmt.Sprintf("%s/%d=%d ", tt.Topic, p.Partition, p.Offset)
		}
	}
	if got != "t/0=10 t/2=20 u/0=5 " {
		t.Fatalf("all offsets: %q", got)
	}
	// v8: several groups; v10 by topic id.
	req8 := kmsg.NewPtrOffsetFetchRequest()
	req8.Version = 10
	for _, g := range []string{"g", "unknown"} {
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = g
		gt := kmsg.NewOffsetFetchRequestGroupTopic()
		gt.TopicID, gt.Partitions = [16]byte{1}, []int32{2}
		rg.Topics = append(rg.Topics, gt)
		req8.Groups = append(req8.Groups, rg)
	}
	r8 := c.OffsetFetch(req8)
	if r8.Groups[0].Topics[0].Partitions[0].Offset != 20 || r8.Groups[1].Topics[0].Partitions[0].Offset != -1 {
		t.Fatalf("v10 multi-group: %+v", r8.Groups)
	}
	// require_stable: an offset a transaction still to end committed is
	// UNSTABLE_OFFSET_COMMIT; without require_stable, the committed one.
	s.mu.Lock()
	s.pending = map[string]map[raftmeta.OffsetKey]bool{"g": {{Topic: "t", Partition: 2}: true}}
	s.mu.Unlock()
	req.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 2}}}
	if p := c.OffsetFetch(req).Topics[0].Partitions; p[0].ErrorCode != 0 || p[1].ErrorCode != 0 || p[1].Offset != 20 {
		t.Fatalf("pending transactional offset without require_stable: %+v", p)
	}
	req.RequireStable = true
	if p := c.OffsetFetch(req).Topics[0].Partitions; p[0].ErrorCode != 0 || p[0].Offset != 10 || p[1].ErrorCode != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("pending transactional offset with require_stable: %+v", p)
	}
	req8.RequireStable = true
	if p := c.OffsetFetch(req8).Groups[0].Topics[0].Partitions[0]; p.ErrorCode != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("v10 require_stable: %+v", p)
	}
	req.Topics, req.RequireStable = nil, false

	// Not the coordinator: top-level error from v2, per partition before.
	s.setLeader(false)
	waitFor(t, func() bool { return c.OffsetFetch(req).ErrorCode == kerr.NotCoordinator.Code })
	v1 := kmsg.NewPtrOffsetFetchRequest()
	v1.Version = 1
	v1.Group = "g"
	v1.Topics = append(v1.Topics, rt)
	r = c.OffsetFetch(v1)
	wantCode(t, "v1 partition error", r.Topics[0].Partitions[0].ErrorCode, kerr.NotCoordinator)
}

func TestAdminAPIs(t *testing.T) {
	s := newFakeStore()
	s.addTopic("t", 2, 1)
	s.addTopic("other", 1, 2)
	c := newTestCoordinator(t, s)
	member, gen := stableGroup(t, c, "busy")
	commitCode(c, commitReq("busy", member, gen, "t", 0, 3))
	commitCode(c, commitReq("busy", member, gen, "other", 0, 3))
	commitCode(c, commitReq("idle", "", -1, "t", 0, 1))

	// DeleteGroups: members → NON_EMPTY_GROUP; unknown → GROUP_ID_NOT_FOUND.
	dr := c.DeleteGroups(&kmsg.DeleteGroupsRequest{Groups: []string{"busy", "nope", "idle"}})
	wantCode(t, "delete busy", dr.Groups[0].ErrorCode, kerr.NonEmptyGroup)
	wantCode(t, "delete unknown", dr.Groups[1].ErrorCode, kerr.GroupIDNotFound)
	wantCode(t, "delete idle", dr.Groups[2].ErrorCode, nil)
	if _, ok := s.Offset("idle", raftmeta.OffsetKey{Topic: "t"}); ok {
		t.Fatal("deleted group kept its offsets")
	}

	// ListGroups with filters.
	list := func(states, types []string) []string {
		r := c.ListGroups(&kmsg.ListGroupsRequest{Version: 5, StatesFilter: states, TypesFilter: types})
		var out []string
		for _, g := range r.Groups {
			out = append(out, g.Group+":"+g.GroupState)
		}
		return out
	}
	commitCode(c, commitReq("offsets-only", "", -1, "t", 0, 1))
	if got := fmt.Sprint(list(nil, nil)); got != "[busy:Stable offsets-only:Empty]" {
		t.Fatalf("list: %s", got)
	}
	if got := fmt.Sprint(list([]string{"stable"}, nil)); got != "[busy:Stable]" {
		t.Fatalf("list Stable: %s", got)
	}
	if got := list(nil, []string{"consumer"}); len(got) != 0 {
		t.Fatalf("list type consumer (KIP-848): %v", got)
	}

	// DescribeGroups of an unknown group: Dead, or GROUP_ID_NOT_FOUND (v6).
	d5 := c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"nope"}})
	if d5.Groups[0].State != "Dead" || d5.Groups[0].ErrorCode != 0 {
		t.Fatalf("v5 unknown: %+v", d5.Groups[0])
	}
	d6 := c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 6, Groups: []string{"nope"}})
	wantCode(t, "v6 unknown", d6.Groups[0].ErrorCode, kerr.GroupIDNotFound)

	// OffsetDelete: a subscribed topic stays, others go.
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "busy"
	for _, tn := range []string{"t", "other"} {
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = tn
		rt.Partitions = append(rt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: 0})
		od.Topics = append(od.Topics, rt)
	}
	// stableGroup's member subscribes to topic "t" (consumerMeta("t")).
	or := c.OffsetDelete(context.Background(), od)
	wantCode(t, "offset delete", or.ErrorCode, nil)
	wantCode(t, "subscribed topic", or.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
	wantCode(t, "unsubscribed topic", or.Topics[1].Partitions[0].ErrorCode, nil)
	if _, ok := s.Offset("busy", raftmeta.OffsetKey{Topic: "other"}); ok {
		t.Fatal("offset of the unsubscribed topic not deleted")
	}
	od.Group = "nope"
	wantCode(t, "offset delete unknown group", c.OffsetDelete(context.Background(), od).ErrorCode, kerr.GroupIDNotFound)
}

func TestStaticMembership(t *testing.T) {
	s := newFakeStore()
	s.addTopic("t", 1, 1)
	c := newTestCoordinator(t, s)
	req := joinReq("g", "", 5000)
	inst := "instance-1"
	req.InstanceID = &inst
	r := join(t, c, req)
	wantCode(t, "static join", r.ErrorCode, nil)
	old, gen := r.MemberID, r.Generation
	wantCode(t, "sync", c.SyncGroup(context.Background(), syncReq("g", old, gen, map[string][]byte{old: []byte("A")})).ErrorCode, nil)

	// The instance restarts: a new member id, the same generation and
	// assignment, no rebalance.
	again := joinReq("g", "", 5000)
	again.InstanceID = &inst
	r2 := join(t, c, again)
	wantCode(t, "static rejoin", r2.ErrorCode, nil)
	if r2.MemberID == old || r2.Generation != gen {
		t.Fatalf("rejoin: member %q generation %d (old %q %d)", r2.MemberID, r2.Generation, old, gen)
	}
	sr := c.SyncGroup(context.Background(), func() *kmsg.SyncGroupRequest {
		x := syncReq("g", r2.MemberID, gen, nil)
		x.InstanceID = &inst
		return x
	}())
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "A" {
		t.Fatalf("sync after static rejoin: %v %q", errOf(sr.ErrorCode), sr.MemberAssignment)
	}
	// The old member id is fenced.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = "g", old, gen, &inst
	wantCode(t, "fenced heartbeat", c.Heartbeat(hb).ErrorCode, kerr.FencedInstanceID)
	cr := commitReq("g", old, gen, "t", 0, 1)
	cr.InstanceID = &inst
	wantCode(t, "fenced commit", commitCode(c, cr), kerr.FencedInstanceID)

	// Batch leave: by instance id, and an unknown member.
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Version = 5
	lv.Group = "g"
	lv.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: &inst}, {MemberID: "ghost"}}
	lr := c.LeaveGroup(lv)
	wantCode(t, "leave by instance", lr.Members[0].ErrorCode, nil)
	wantCode(t, "leave unknown", lr.Members[1].ErrorCode, kerr.UnknownMemberID)
}

func TestLeadership(t *testing.T) {
	s := newFakeStore()
	s.addTopic("t", 1, 1)
	c := newTestCoordinator(t, s)

	// A JoinGroup parked in the initial rebalance delay...
	c.mu.Lock()
	c.cfg.InitialRebalanceDelay = time.Hour
	c.mu.Unlock()
	parked := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { parked <- join(t, c, joinReq("g", "", 5000)) }()
	waitFor(t, func() bool { return memberCount(c, "g") == 1 })
	// ...is answered NOT_COORDINATOR when leadership is lost.
	s.setLeader(false)
	select {
	case r := <-parked:
		wantCode(t, "parked join", r.ErrorCode, kerr.NotCoordinator)
	case <-time.After(5 * time.Second):
		t.Fatal("parked JoinGroup not answered after leadership loss")
	}
	wantCode(t, "commit on a follower", commitCode(c, commitReq("g", "", -1, "t", 0, 1)), kerr.NotCoordinator)
	wantCode(t, "heartbeat on a follower", heartbeat(c, "g", "m", 1), kerr.NotCoordinator)

	// Regaining leadership: loading until the barrier passes.
	s.mu.Lock()
	s.barrier = make(chan struct{})
	s.mu.Unlock()
	s.setLeader(true)
	waitFor(t, func() bool {
		return commitCode(c, commitReq("g", "", -1, "t", 0, 1)) == kerr.CoordinatorLoadInProgress.Code
	})
	close(s.barrier)
	waitActive(t, c)
	wantCode(t, "commit once loaded", commitCode(c, commitReq("g", "", -1, "t", 0, 1)), nil)
}

func TestRestoreStableGroup(t *testing.T) {
	s := newFakeStore()
	s.groups["g"] = raftmeta.Group{
		ID: "g", State: raftmeta.GroupStateStable, ProtocolType: "consumer", Protocol: "range",
		Generation: 7, Leader: "m1",
		Members: []raftmeta.GroupMember{{
			MemberID: "m1", ClientID: "c", ClientHost: "/h", RebalanceTimeoutMs: 2000, SessionTimeoutMs: 5000,
			Protocols: []raftmeta.GroupProtocol{{Name: "range", Metadata: consumerMeta("t")}}, Assignment: []byte("A"),
		}},
	}
	c := newTestCoordinator(t, s)
	wantCode(t, "heartbeat of a restored member", heartbeat(c, "g", "m1", 7), nil)
	sr := c.SyncGroup(context.Background(), syncReq("g", "m1", 7, nil))
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "A" {
		t.Fatalf("sync of a restored member: %v %q", errOf(sr.ErrorCode), sr.MemberAssignment)
	}
}

func TestStoreFailureOnSync(t *testing.T) {
	s := newFakeStore()
	c := newTestCoordinator(t, s)
	jr := join(t, c, joinReq("g", "", 5000))
	s.mu.Lock()
	s.putErr = errors.New("disk on fire")
	s.mu.Unlock()
	sr := c.SyncGroup(context.Background(), syncReq("g", jr.MemberID, jr.Generation, map[string][]byte{jr.MemberID: []byte("A")}))
	wantCode(t, "sync with a failing store", sr.ErrorCode, kerr.UnknownServerError)
	wantCode(t, "heartbeat after the failed sync", heartbeat(c, "g", jr.MemberID, jr.Generation), kerr.RebalanceInProgress)
}

// TestLoneMemberRejoins: the only member of a Stable group rejoining with
// new metadata (Kafka Streams does once it created its internal topics)
// gets its JoinGroup answered at once, not at its rebalance timeout.
func TestLoneMemberRejoins(t *testing.T) {
	c := newTestCoordinator(t, newFakeStore())
	id, gen := stableGroup(t, c, "lone")
	r := joinReq("lone", id, 5000)
	r.RebalanceTimeoutMillis = int32((10 * time.Minute).Milliseconds())
	r.Protocols[0].Metadata = consumerMeta("t", "u")
	jr := join(t, c, r)
	wantCode(t, "rejoin", jr.ErrorCode, nil)
	if jr.Generation != gen+1 || jr.LeaderID != id {
		t.Fatalf("rejoin: generation %d leader %s, want %d and %s", jr.Generation, jr.LeaderID, gen+1, id)
	}
}
