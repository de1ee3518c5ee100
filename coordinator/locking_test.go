package coordinator

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// waitLimit bounds every wait of these tests; none is a timing assertion.
const waitLimit = 10 * time.Second

// within runs f and fails the test when it does not return in waitLimit.
func within(t *testing.T, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(waitLimit):
		t.Fatalf("%s did not return within %v while a group's Raft write was blocked in the store: a lock is held across the write", what, waitLimit)
	}
}

// writeEntered waits until a blocked write of group id has started.
func writeEntered(t *testing.T, s *fakeStore, id string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case got := <-s.entered:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("no write of group %q reached the store within %v", id, waitLimit)
		}
	}
}

// A Raft write of one group (the leader's SyncGroup storing the
// assignment) that does not return stalls no request of another group,
// nor the heartbeats of its own group.
func TestSlowWriteDoesNotStallOtherGroups(t *testing.T) {
	s := newFakeStore()
	s.addTopic("t", 1, 1)
	c := newTestCoordinator(t, s)
	fastMember, fastGen := stableGroup(t, c, "fast")
	wantCode(t, "commit", commitCode(c, commitReq("fast", fastMember, fastGen, "t", 0, 11)), nil)

	release := s.block("slow")
	defer release()
	jr := join(t, c, joinReq("slow", "", 5000))
	wantCode(t, "join slow", jr.ErrorCode, nil)
	slowSync := make(chan *kmsg.SyncGroupResponse, 1)
	go func() {
		slowSync <- c.SyncGroup(context.Background(), syncReq("slow", jr.MemberID, jr.Generation, map[string][]byte{jr.MemberID: []byte("S")}))
	}()
	writeEntered(t, s, "slow")

	within(t, "Heartbeat of another group", func() {
		wantCode(t, "heartbeat fast", heartbeat(c, "fast", fastMember, fastGen), nil)
	})
	within(t, "Heartbeat of the group being written", func() {
		wantCode(t, "heartbeat slow", heartbeat(c, "slow", jr.MemberID, jr.Generation), nil)
	})
	within(t, "JoinGroup of another group", func() {
		r := join(t, c, joinReq("other", "", 5000))
		wantCode(t, "join other", r.ErrorCode, nil)
	})
	within(t, "OffsetFetch of another group", func() {
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Version = 7
		req.Group = "fast"
		r := c.OffsetFetch(req)
		if r.ErrorCode != 0 || len(r.Topics) != 1 || r.Topics[0].Partitions[0].Offset != 11 {
			t.Errorf("offset fetch of fast: %+v", r)
		}
	})
	within(t, "OffsetCommit of another group", func() {
		wantCode(t, "commit fast", commitCode(c, commitReq("fast", fastMember, fastGen, "t", 0, 12)), nil)
	})
	within(t, "DescribeGroups", func() {
		d := c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"fast", "slow"}})
		if d.Groups[0].State != "Stable" || d.Groups[1].State != "CompletingRebalance" {
			t.Errorf("describe: %s %s", d.Groups[0].State, d.Groups[1].State)
		}
	})
	within(t, "ListGroups", func() { c.ListGroups(&kmsg.ListGroupsRequest{Version: 5}) })
	within(t, "SyncGroup of another group", func() {
		sr := c.SyncGroup(context.Background(), syncReq("fast", fastMember, fastGen, nil))
		if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "a" {
			t.Errorf("sync fast: %v %q", errOf(sr.ErrorCode), sr.MemberAssignment)
		}
	})
	select {
	case r := <-slowSync:
		t.Fatalf("the leader's SyncGroup answered (%v) before its assignment was stored", errOf(r.ErrorCode))
	default:
	}

	release()
	select {
	case r := <-slowSync:
		if r.ErrorCode != 0 || string(r.MemberAssignment) != "S" {
			t.Fatalf("slow sync after the write: %v %q", errOf(r.ErrorCode), r.MemberAssignment)
		}
	case <-time.After(waitLimit):
		t.Fatal("the leader's SyncGroup not answered after its write completed")
	}
	if g, ok := s.Group("slow"); !ok || g.State != raftmeta.GroupStateStable {
		t.Fatalf("stored slow group %+v", g)
	}
	wantCode(t, "heartbeat slow after", heartbeat(c, "slow", jr.MemberID, jr.Generation), nil)
}

// When the group moves on while the leader's assignment is being written
// (here the leader leaves), the write's result is not applied: the
// SyncGroup gets the error of what moved the group, and the record the
// group ends with (Empty) is written after the one in flight, not before.
func TestSyncWriteRechecksGroup(t *testing.T) {
	s := newFakeStore()
	c := newTestCoordinator(t, s)
	release := s.block("g")
	defer release()
	jr := join(t, c, joinReq("g", "", 5000))
	wantCode(t, "join", jr.ErrorCode, nil)
	synced := make(chan *kmsg.SyncGroupResponse, 1)
	go func() {
		synced <- c.SyncGroup(context.Background(), syncReq("g", jr.MemberID, jr.Generation, map[string][]byte{jr.MemberID: []byte("A")}))
	}()
	writeEntered(t, s, "g")

	within(t, "LeaveGroup of the group being written", func() {
		lv := kmsg.NewPtrLeaveGroupRequest()
		lv.Version = 5
		lv.Group = "g"
		lv.Members = []kmsg.LeaveGroupRequestMember{{MemberID: jr.MemberID}}
		wantCode(t, "leave", c.LeaveGroup(lv).Members[0].ErrorCode, nil)
	})
	select {
	case r := <-synced:
		wantCode(t, "sync of a member that left", r.ErrorCode, kerr.UnknownMemberID)
	case <-time.After(waitLimit):
		t.Fatal("the leader's SyncGroup not answered after it left")
	}
	release()
	waitFor(t, func() bool {
		g, ok := s.Group("g")
		return ok && g.State == raftmeta.GroupStateEmpty && g.Generation == jr.Generation+1
	})
	wantCode(t, "heartbeat after", heartbeat(c, "g", jr.MemberID, jr.Generation), kerr.UnknownMemberID)
}

// A DeleteGroups whose write does not return stalls nothing else, and a
// JoinGroup of the group being deleted waits for the deletion, then joins
// a new group (no member joins a group whose offsets are being deleted).
func TestSlowDeleteDoesNotStallOthers(t *testing.T) {
	s := newFakeStore()
	s.addTopic("t", 1, 1)
	c := newTestCoordinator(t, s)
	fastMember, fastGen := stableGroup(t, c, "fast")
	// An Empty group in memory and in the store, with offsets.
	jr := join(t, c, joinReq("old", "", 5000))
	wantCode(t, "join old", jr.ErrorCode, nil)
	lv := kmsg.NewPtrLeaveGroupRequest()
	lv.Version = 5
	lv.Group = "old"
	lv.Members = []kmsg.LeaveGroupRequestMember{{MemberID: jr.MemberID}}
	wantCode(t, "leave old", c.LeaveGroup(lv).Members[0].ErrorCode, nil)
	waitFor(t, func() bool {
		g, ok := s.Group("old")
		return ok && g.State == raftmeta.GroupStateEmpty
	})
	wantCode(t, "commit old", commitCode(c, commitReq("old", "", -1, "t", 0, 5)), nil)

	release := s.block("old")
	defer release()
	deleted := make(chan *kmsg.DeleteGroupsResponse, 1)
	go func() { deleted <- c.DeleteGroups(&kmsg.DeleteGroupsRequest{Groups: []string{"old"}}) }()
	writeEntered(t, s, "old")

	within(t, "Heartbeat of another group", func() {
		wantCode(t, "heartbeat fast", heartbeat(c, "fast", fastMember, fastGen), nil)
	})
	within(t, "DescribeGroups of the group being deleted", func() {
		d := c.DescribeGroups(&kmsg.DescribeGroupsRequest{Version: 5, Groups: []string{"old"}})
		if d.Groups[0].State != "Empty" {
			t.Errorf("describe old: %s", d.Groups[0].State)
		}
	})
	rejoined := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { rejoined <- join(t, c, joinReq("old", "", 5000)) }()

	release()
	select {
	case r := <-deleted:
		wantCode(t, "delete old", r.Groups[0].ErrorCode, nil)
	case <-time.After(waitLimit):
		t.Fatal("DeleteGroups not answered after its write completed")
	}
	select {
	case r := <-rejoined:
		wantCode(t, "join of the deleted group", r.ErrorCode, nil)
		if r.Generation != 1 {
			t.Fatalf("join of the deleted group: generation %d, want 1 (a new group)", r.Generation)
		}
		wantCode(t, "heartbeat of the new member", heartbeat(c, "old", r.MemberID, r.Generation), nil)
	case <-time.After(waitLimit):
		t.Fatal("JoinGroup of the deleted group not answered")
	}
	if _, ok := s.Offset("old", raftmeta.OffsetKey{Topic: "t"}); ok {
		t.Fatal("the deleted group kept its offsets")
	}
}
