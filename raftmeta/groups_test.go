package raftmeta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func sampleGroup(id, state string) Group {
	g := Group{ID: id, State: state, ProtocolType: "consumer", Generation: 3, UpdatedMs: 1000}
	if state == GroupStateStable {
		g.Protocol = "range"
		g.Leader = "m1"
		g.Members = []GroupMember{
			{MemberID: "m1", ClientID: "c1", ClientHost: "/127.0.0.1", RebalanceTimeoutMs: 60000, SessionTimeoutMs: 10000,
				Protocols: []GroupProtocol{{Name: "range", Metadata: []byte{0, 1, 2}}}, Assignment: []byte{9, 9}},
			{MemberID: "m2", GroupInstanceID: "static-2", ClientID: "c2", ClientHost: "/127.0.0.2",
				Protocols: []GroupProtocol{{Name: "range", Metadata: []byte{3}}}, Assignment: []byte{8}},
		}
	}
	return g
}

func commit(topic string, partition int32, offset, atMs int64) OffsetCommit {
	return OffsetCommit{OffsetKey{topic, partition}, CommittedOffset{Offset: offset, LeaderEpoch: -1, CommitTimeMs: atMs}}
}

func commitCmd(group string, commits ...OffsetCommit) *commitOffsetsCmd {
	return &commitOffsetsCmd{Groups: []groupCommit{{Group: group, Offsets: commits}}}
}

func TestFSMPutGroup(t *testing.T) {
	h := newFSMHarness(t)
	g := sampleGroup("g1", GroupStateStable)
	h.mustApply(&putGroupCmd{Group: g})
	h.mustApply(&putGroupCmd{Group: sampleGroup("g0", GroupStateEmpty)})
	got, ok := h.f.group("g1")
	if !ok || !reflect.DeepEqual(got, g) {
		t.Fatalf("group = %+v, %v\nwant %+v", got, ok, g)
	}
	got.Members[0].Assignment[0] = 0
	got.Members[0].Protocols[0].Metadata[0] = 7
	if again, _ := h.f.group("g1"); !reflect.DeepEqual(again, g) {
		t.Fatal("group() returned shared memory")
	}
	// Replace.
	g.State, g.Members, g.Leader, g.Generation = GroupStateEmpty, nil, "", 4
	h.mustApply(&putGroupCmd{Group: g})
	if got, _ := h.f.group("g1"); !reflect.DeepEqual(got, g) {
		t.Fatalf("replaced group = %+v", got)
	}
	if gs := h.f.groups(); len(gs) != 2 || gs[0].ID != "g0" || gs[1].ID != "g1" {
		t.Fatalf("groups = %+v", gs)
	}
	if ids := h.f.groupIDs(); !reflect.DeepEqual(ids, []string{"g0", "g1"}) {
		t.Fatalf("groupIDs = %v", ids)
	}

	bad := func(mutate func(*Group)) Group {
		g := sampleGroup("bad", GroupStateStable)
		mutate(&g)
		return g
	}
	for name, g := range map[string]Group{
		"empty id":     bad(func(g *Group) { g.ID = "" }),
		"no state":     bad(func(g *Group) { g.State = "" }),
		"rebalancing":  bad(func(g *Group) { g.State = "PreparingRebalance" }),
		"lower case":   bad(func(g *Group) { g.State = "stable" }),
		"empty member": bad(func(g *Group) { g.Members[1].MemberID = "" }),
		"member twice": bad(func(g *Group) { g.Members[1].MemberID = "m1" }),
	} {
		t.Run(name, func(t *testing.T) { h.wantErr(&putGroupCmd{Group: g}, ErrInvalidCommand) })
	}
}

func TestFSMDeleteGroup(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(&putGroupCmd{Group: sampleGroup("both", GroupStateEmpty)})
	h.mustApply(&putGroupCmd{Group: sampleGroup("meta", GroupStateStable)})
	h.mustApply(&commitOffsetsCmd{Groups: []groupCommit{
		{Group: "both", Offsets: []OffsetCommit{commit("t", 0, 1, 1), commit("u", 0, 1, 1)}},
		{Group: "offsets", Offsets: []OffsetCommit{commit("t", 0, 1, 1)}},
	}})
	for _, id := range []string{"both", "meta", "offsets"} {
		h.mustApply(&deleteGroupCmd{ID: id})
		if _, ok := h.f.group(id); ok {
			t.Fatalf("%s: metadata left", id)
		}
		if offs := h.f.offsets(id); len(offs) != 0 {
			t.Fatalf("%s: offsets left: %v", id, offs)
		}
		h.wantErr(&deleteGroupCmd{ID: id}, ErrUnknownGroup)
	}
	if ids := h.f.groupIDs(); len(ids) != 0 {
		t.Fatalf("groupIDs = %v", ids)
	}
	h.wantErr(&deleteGroupCmd{}, ErrInvalidCommand)
}

func TestFSMCommitOffsets(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(&putGroupCmd{Group: sampleGroup("g", GroupStateStable)})
	h.mustApply(&commitOffsetsCmd{Groups: []groupCommit{
		{Group: "g", Offsets: []OffsetCommit{commit("t", 0, 10, 100), commit("t", 1, 20, 100), commit("u", 0, 30, 100)}},
		{Group: "simple", Offsets: []OffsetCommit{commit("t", 0, 5, 100)}}, // no metadata: fine
		{Group: "g", Offsets: []OffsetCommit{commit("t", 1, 21, 101)}},     // later entry wins
	}})
	want := map[OffsetKey]CommittedOffset{
		{"t", 0}: {Offset: 10, LeaderEpoch: -1, CommitTimeMs: 100},
		{"t", 1}: {Offset: 21, LeaderEpoch: -1, CommitTimeMs: 101},
		{"u", 0}: {Offset: 30, LeaderEpoch: -1, CommitTimeMs: 100},
	}
	got := h.f.offsets("g")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("offsets = %v\nwant %v", got, want)
	}
	got[OffsetKey{"t", 0}] = CommittedOffset{}
	if o, ok := h.f.offset("g", OffsetKey{"t", 0}); !ok || o.Offset != 10 {
		t.Fatalf("offset = %+v, %v (offsets() shares memory?)", o, ok)
	}
	if _, ok := h.f.offset("g", OffsetKey{"t", 9}); ok {
		t.Fatal("offset of an uncommitted partition")
	}
	if _, ok := h.f.offset("nope", OffsetKey{"t", 0}); ok {
		t.Fatal("offset of an unknown group")
	}
	if offs := h.f.offsets("nope"); offs == nil || len(offs) != 0 {
		t.Fatalf("offsets of an unknown group = %#v, want empty map", offs)
	}
	if _, ok := h.f.group("simple"); ok {
		t.Fatal("a commit created group metadata")
	}
	if ids := h.f.groupIDs(); !reflect.DeepEqual(ids, []string{"g", "simple"}) {
		t.Fatalf("groupIDs = %v", ids)
	}
	if gs := h.f.groups(); len(gs) != 1 {
		t.Fatalf("groups = %+v", gs)
	}
	h.mustApply(commitCmd("g", OffsetCommit{OffsetKey{"t", 0}, CommittedOffset{Offset: 11, LeaderEpoch: 2, Metadata: "meta", CommitTimeMs: 200}}))
	if o, _ := h.f.offset("g", OffsetKey{"t", 0}); o != (CommittedOffset{Offset: 11, LeaderEpoch: 2, Metadata: "meta", CommitTimeMs: 200}) {
		t.Fatalf("overwritten offset = %+v", o)
	}

	ok := commit("t", 0, 1, 1)
	tooMany := make([]OffsetCommit, MaxOffsetCommits+1)
	for i := range tooMany {
		tooMany[i] = commit("t", int32(i), 0, 1)
	}
	half := tooMany[:MaxOffsetCommits/2+1]
	for name, c := range map[string]*commitOffsetsCmd{
		"empty batch":     {},
		"empty group":     commitCmd("", ok),
		"no offsets":      commitCmd("g"),
		"bad topic":       commitCmd("g", commit("a b", 0, 1, 1)),
		"empty topic":     commitCmd("g", commit("", 0, 1, 1)),
		"neg partition":   commitCmd("g", commit("t", -1, 1, 1)),
		"offset -2":       commitCmd("g", commit("t", 0, -2, 1)),
		"neg commit time": commitCmd("g", commit("t", 0, 1, -1)),
		"epoch -2":        commitCmd("g", OffsetCommit{OffsetKey{"t", 0}, CommittedOffset{LeaderEpoch: -2}}),
		"one bad entry":   {Groups: []groupCommit{{Group: "g", Offsets: []OffsetCommit{ok}}, {Group: "h", Offsets: []OffsetCommit{commit("t", -1, 1, 1)}}}},
		"too many":        commitCmd("g", tooMany...),
		"too many in all": {Groups: []groupCommit{{Group: "g", Offsets: half}, {Group: "h", Offsets: half}}},
	} {
		t.Run(name, func(t *testing.T) {
			if c.validate() == nil {
				t.Fatal("validate accepted it")
			}
			before := h.snapshotBytes()
			if _, err := h.apply(c); err == nil {
				t.Fatal("apply accepted it")
			}
			if !bytes.Equal(before, h.snapshotBytes()) {
				t.Fatal("rejected commit changed the state")
			}
		})
	}
	// Offset -1 (Kafka's "no offset") is accepted.
	h.mustApply(commitCmd("g", commit("t", 5, -1, 1)))
}

func TestFSMDeleteOffsets(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(&putGroupCmd{Group: sampleGroup("meta", GroupStateEmpty)})
	h.mustApply(commitCmd("g", commit("t", 0, 1, 1), commit("t", 1, 1, 1), commit("u", 0, 1, 1)))
	n := h.mustApply(&deleteOffsetsCmd{Group: "g", Keys: []OffsetKey{{"t", 0}, {"t", 7}, {"v", 0}, {"t", 0}}})
	if n != 1 {
		t.Fatalf("removed %v, want 1", n)
	}
	if got := h.f.offsets("g"); len(got) != 2 {
		t.Fatalf("offsets = %v", got)
	}
	if n := h.mustApply(&deleteOffsetsCmd{Group: "g", Keys: []OffsetKey{{"t", 1}, {"u", 0}}}); n != 2 {
		t.Fatalf("removed %v, want 2", n)
	}
	// Its last offsets gone, a group without metadata no longer exists.
	if ids := h.f.groupIDs(); !reflect.DeepEqual(ids, []string{"meta"}) {
		t.Fatalf("groupIDs = %v", ids)
	}
	if !reflect.DeepEqual(h.f.state.offsets, map[string]groupOffsets{}) {
		t.Fatalf("empty offset maps left behind: %#v", h.f.state.offsets)
	}
	h.wantErr(&deleteOffsetsCmd{Group: "g", Keys: []OffsetKey{{"t", 1}}}, ErrUnknownGroup)
	// A group with metadata and no offsets exists: nothing to remove.
	if n := h.mustApply(&deleteOffsetsCmd{Group: "meta", Keys: []OffsetKey{{"t", 1}}}); n != 0 {
		t.Fatalf("removed %v", n)
	}
	h.wantErr(&deleteOffsetsCmd{Group: "", Keys: []OffsetKey{{"t", 1}}}, ErrInvalidCommand)
	h.wantErr(&deleteOffsetsCmd{Group: "meta", Keys: []OffsetKey{{"t", -1}}}, ErrInvalidCommand)
	h.wantErr(&deleteOffsetsCmd{Group: "meta", Keys: []OffsetKey{{"", 0}}}, ErrInvalidTopic)
	h.wantErr(&deleteOffsetsCmd{Group: "meta", Keys: make([]OffsetKey, MaxOffsetCommits+1)}, ErrInvalidCommand)
}

func TestFSMExpireOffsets(t *testing.T) {
	const (
		day       = int64(24 * 3600 * 1000)
		retention = 7 * day
		now       = 100 * day
		old       = now - retention - 1 // expired
		edge      = now - retention     // expired: Kafka's rule is now-commit >= retention
		recent    = now - retention + 1 // kept
	)
	h := newFSMHarness(t)
	stable := sampleGroup("stable", GroupStateStable)
	stable.UpdatedMs = 0
	empty := sampleGroup("empty", GroupStateEmpty)
	empty.UpdatedMs = old
	// Emptied recently: its old offsets wait for the retention to run from
	// the time it became empty (KIP-211).
	emptiedRecently := sampleGroup("emptied-recently", GroupStateEmpty)
	emptiedRecently.UpdatedMs = recent
	emptyNoOffsets := sampleGroup("empty-no-offsets", GroupStateEmpty)
	emptyAllOld := sampleGroup("empty-all-old", GroupStateEmpty)
	emptyAllOld.UpdatedMs = old
	for _, g := range []Group{stable, empty, emptiedRecently, emptyNoOffsets, emptyAllOld} {
		h.mustApply(&putGroupCmd{Group: g})
	}
	h.mustApply(&commitOffsetsCmd{Groups: []groupCommit{
		{Group: "stable", Offsets: []OffsetCommit{commit("t", 0, 1, old), commit("t", 1, 1, recent)}},
		{Group: "empty", Offsets: []OffsetCommit{commit("t", 0, 1, old), commit("t", 1, 1, edge), commit("t", 2, 1, recent)}},
		{Group: "emptied-recently", Offsets: []OffsetCommit{commit("t", 0, 1, old)}},
		{Group: "empty-all-old", Offsets: []OffsetCommit{commit("t", 0, 1, old)}},
		{Group: "simple", Offsets: []OffsetCommit{commit("t", 0, 1, old), commit("u", 3, 1, recent)}},
		{Group: "simple-all-old", Offsets: []OffsetCommit{commit("t", 0, 1, old), commit("u", 0, 1, edge)}},
	}})

	n := h.mustApply(&expireOffsetsCmd{NowMs: now, RetentionMs: retention})
	if n != 6 {
		t.Fatalf("removed %v offsets, want 6", n)
	}
	keys := func(group string) []OffsetKey {
		if offs := h.f.offsets(group); len(offs) > 0 {
			return slicesOfKeys(offs)
		}
		return nil
	}
	for group, want := range map[string][]OffsetKey{
		"stable":           {{"t", 0}, {"t", 1}},
		"empty":            {{"t", 2}},
		"emptied-recently": {{"t", 0}},
		"simple":           {{"u", 3}},
	} {
		if got := keys(group); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: offsets %v, want %v", group, got, want)
		}
	}
	wantIDs := []string{"emptied-recently", "empty", "simple", "stable"}
	if ids := h.f.groupIDs(); !reflect.DeepEqual(ids, wantIDs) {
		t.Fatalf("groupIDs = %v, want %v (empty groups without offsets must go)", ids, wantIDs)
	}
	if _, ok := h.f.group("stable"); !ok {
		t.Fatal("stable group deleted")
	}
	// Idempotent.
	if n := h.mustApply(&expireOffsetsCmd{NowMs: now, RetentionMs: retention}); n != 0 {
		t.Fatalf("second pass removed %v", n)
	}
	// A Stable group without offsets is kept.
	h.mustApply(&putGroupCmd{Group: sampleGroup("stable-no-offsets", GroupStateStable)})
	h.mustApply(&expireOffsetsCmd{NowMs: now, RetentionMs: retention})
	if _, ok := h.f.group("stable-no-offsets"); !ok {
		t.Fatal("stable group without offsets deleted")
	}
	// Extreme clocks neither overflow nor misbehave.
	h.mustApply(commitCmd("future", commit("t", 0, 1, 1<<62)))
	if n := h.mustApply(&expireOffsetsCmd{NowMs: 0, RetentionMs: 1<<63 - 1}); n != 0 {
		t.Fatalf("removed %v at time 0", n)
	}
	h.wantErr(&expireOffsetsCmd{NowMs: -1, RetentionMs: 1}, ErrInvalidCommand)
	h.wantErr(&expireOffsetsCmd{NowMs: 1, RetentionMs: -1}, ErrInvalidCommand)
}

func TestFSMDeleteTopicRemovesOffsets(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(createCmd("t", 1, 2))
	h.mustApply(createCmd("u", 2, 1))
	h.mustApply(&putGroupCmd{Group: sampleGroup("stable", GroupStateStable)})
	h.mustApply(&putGroupCmd{Group: sampleGroup("empty-only-t", GroupStateEmpty)})
	h.mustApply(&putGroupCmd{Group: sampleGroup("empty-unrelated", GroupStateEmpty)})
	h.mustApply(&commitOffsetsCmd{Groups: []groupCommit{
		{Group: "stable", Offsets: []OffsetCommit{commit("t", 0, 1, 1), commit("t", 1, 1, 1), commit("u", 0, 1, 1)}},
		{Group: "empty-only-t", Offsets: []OffsetCommit{commit("t", 0, 1, 1)}},
		{Group: "simple-only-t", Offsets: []OffsetCommit{commit("t", 1, 1, 1)}},
		{Group: "simple", Offsets: []OffsetCommit{commit("t", 1, 1, 1), commit("u", 0, 1, 1)}},
	}})
	h.mustApply(&deleteTopicCmd{Name: "t"})
	for group, want := range map[string]int{"stable": 1, "simple": 1, "empty-only-t": 0, "simple-only-t": 0} {
		offs := h.f.offsets(group)
		if len(offs) != want {
			t.Errorf("%s: offsets %v, want %d", group, offs, want)
		}
		for k := range offs {
			if k.Topic == "t" {
				t.Errorf("%s: offset of the deleted topic left: %v", group, k)
			}
		}
	}
	wantIDs := []string{"empty-unrelated", "simple", "stable"}
	if ids := h.f.groupIDs(); !reflect.DeepEqual(ids, wantIDs) {
		t.Fatalf("groupIDs = %v, want %v", ids, wantIDs)
	}
	// A topic created again under the name starts with no offsets.
	h.mustApply(createCmd("t", 3, 1))
	if _, ok := h.f.offset("stable", OffsetKey{"t", 0}); ok {
		t.Fatal("recreated topic inherited an offset")
	}
}

func TestFSMGroupCommandsChanged(t *testing.T) {
	h := newFSMHarness(t)
	notified := func(c command) bool {
		t.Helper()
		ch := h.f.Changed()
		h.mustApply(c)
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	if !notified(&putGroupCmd{Group: sampleGroup("g", GroupStateEmpty)}) {
		t.Error("PutGroup did not close Changed")
	}
	if notified(commitCmd("g", commit("t", 0, 1, 1))) {
		t.Error("CommitOffsets closed Changed; offset commits must not wake watchers")
	}
	if !notified(&deleteOffsetsCmd{Group: "g", Keys: []OffsetKey{{"t", 0}}}) {
		t.Error("DeleteOffsets did not close Changed")
	}
	if !notified(&expireOffsetsCmd{NowMs: 1, RetentionMs: 1}) {
		t.Error("ExpireOffsets did not close Changed")
	}
}

func TestFSMGarbledGroupCommands(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(&putGroupCmd{Group: sampleGroup("g", GroupStateStable)})
	h.mustApply(commitCmd("g", commit("t", 0, 1, 1)))
	before := h.snapshotBytes()
	for _, data := range []string{
		"\x08",
		"\x08{",
		"\x08{}",
		"\x08{\"group\":{\"id\":\"g\",\"state\":\"Dead\"}}",
		"\x08{\"group\":{\"id\":\"g\",\"state\":\"Stable\",\"members\":[{\"memberId\":\"\"}]}}",
		"\x08{\"group\":{\"id\":\"g\",\"state\":\"Stable\",\"members\":{}}}",
		"\x08{\"group\":{\"id\":\"g\",\"state\":\"Stable\",\"generation\":1e40}}",
		"\x08{\"group\":{\"id\":\"g\",\"state\":\"Stable\",\"members\":[{\"memberId\":\"m\",\"assignment\":\"!!notbase64\"}]}}",
		"\x09{}",
		"\x09{\"id\":7}",
		"\x0a{}",
		"\x0a{\"groups\":null}",
		"\x0a{\"groups\":[]}",
		"\x0a{\"groups\":[{}]}",
		"\x0a{\"groups\":[{\"group\":\"g\"}]}",
		"\x0a{\"groups\":[{\"group\":\"g\",\"offsets\":[{}]}]}",
		"\x0a{\"groups\":[{\"group\":\"g\",\"offsets\":[{\"topic\":\"t\",\"partition\":4294967296}]}]}",
		"\x0a{\"groups\":[{\"group\":\"g\",\"offsets\":[{\"topic\":\"t\",\"partition\":0,\"offset\":\"1\"}]}]}",
		"\x0a{\"groups\":[{\"group\":\"g\",\"offsets\":[{\"topic\":\"t\",\"partition\":0}]},{\"group\":\"\",\"offsets\":[{\"topic\":\"t\",\"partition\":0}]}]}",
		"\x0a[]",
		"\x0b{}",
		"\x0b{\"group\":\"g\",\"keys\":[{\"topic\":\"t\",\"partition\":-1}]}",
		"\x0b{\"group\":\"nope\",\"keys\":[]}",
		"\x0c{\"nowMs\":-5,\"retentionMs\":1}",
		"\x0c{\"nowMs\":1,\"retentionMs\":1e30}",
		"\x0c{\"nowMs\":\"now\"}",
	} {
		resp := h.applyRaw([]byte(data))
		if err, ok := resp.(error); !ok || errors.Is(err, ErrHalted) {
			t.Errorf("Apply(%q) = %v, want an error, not a halt", data, resp)
		}
	}
	if h.f.halt.haltErr() != nil {
		t.Fatal("garbled commands of known types halted the FSM")
	}
	if after := h.snapshotBytes(); !bytes.Equal(before, after) {
		t.Fatalf("garbled commands changed the state")
	}
}

// The batch encoder writes what encodeCommand would, and decodes back.
func TestEncodeCommitBatch(t *testing.T) {
	want := &commitOffsetsCmd{Groups: []groupCommit{
		{Group: "a", Offsets: []OffsetCommit{commit("t", 0, 1, 1), {OffsetKey{"t", 1}, CommittedOffset{Offset: 2, LeaderEpoch: 5, Metadata: "x\"y", CommitTimeMs: 3}}}},
		{Group: "b\u00e9", Offsets: []OffsetCommit{commit("u", 9, 10, 11)}},
	}}
	var batch []*commitRequest
	for _, gc := range want.Groups {
		body, err := json.Marshal(&gc)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, &commitRequest{body: body, commits: len(gc.Offsets)})
	}
	data := encodeCommitBatch(batch)
	direct, err := encodeCommand(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, direct) {
		t.Fatalf("batch encoding\n%s\ndiffers from encodeCommand\n%s", data, direct)
	}
	got, err := decodeCommand(data)
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("decode = %+v, %v", got, err)
	}
}

func TestCommitBatcherTake(t *testing.T) {
	req := func(commits, size int) *commitRequest {
		return &commitRequest{body: make([]byte, size), commits: commits}
	}
	var b commitBatcher
	abandoned := req(1, 10)
	abandoned.abandoned.Store(true)
	huge := req(commitBatchMaxCommits+5, 100)
	b.queue = []*commitRequest{abandoned, req(6000, 10), req(4000, 10), req(1, 10), huge, req(1, commitBatchMaxBytes-100), req(1, 200), req(1, 1)}
	var sizes []int
	for {
		batch := b.takeLocked()
		if len(batch) == 0 {
			break
		}
		sizes = append(sizes, len(batch))
		for _, r := range batch {
			if r == abandoned {
				t.Fatal("abandoned request taken")
			}
		}
	}
	if want := []int{2, 1, 1, 1, 2}; !reflect.DeepEqual(sizes, want) {
		t.Fatalf("batch sizes %v, want %v", sizes, want)
	}
	if b.queue != nil {
		t.Fatalf("queue left: %v", b.queue)
	}
}

func groupsStateDoc() string {
	return `{
  "version": 1,
  "brokers": [{"id": 1, "host": "h", "port": 9092}],
  "topics": [{"name": "t", "id": "` + testID(1).String() + `", "partitions": [{"index": 0, "leader": 1, "leaderEpoch": 0}], "createdMs": 5}],
  "nextProducerId": 1000,
  "clusterId": "c"
}`
}

func TestFSMSnapshotWithGroups(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(createCmd("t", 1, 2))
	h.mustApply(&putGroupCmd{Group: sampleGroup("g-stable", GroupStateStable)})
	h.mustApply(&putGroupCmd{Group: sampleGroup("a-empty", GroupStateEmpty)})
	h.mustApply(&commitOffsetsCmd{Groups: []groupCommit{
		{Group: "g-stable", Offsets: []OffsetCommit{commit("t", 1, 20, 2), commit("t", 0, 10, 1), {OffsetKey{"a", 3}, CommittedOffset{Offset: 5, LeaderEpoch: 2, Metadata: "md", CommitTimeMs: 3}}}},
		{Group: "simple", Offsets: []OffsetCommit{commit("t", 0, 7, 4)}},
	}})
	data := h.snapshotBytes()
	for _, want := range []string{fmt.Sprintf(`"version":%d`, snapshotVersion), `"record":"group"`, `"id":"a-empty"`, `"group":"simple"`, `"memberId":"m1"`, `"topic":"a"`, `"metadata":"md"`} {
		if !bytes.Contains(data, []byte(want)) {
			t.Fatalf("snapshot lacks %s:\n%s", want, data)
		}
	}
	// Sorted: groups by id, offsets by group, then topic and partition.
	s := string(data)
	if !(strings.Index(s, `"id":"a-empty"`) < strings.Index(s, `"id":"g-stable"`) &&
		strings.Index(s, `"group":"g-stable"`) < strings.Index(s, `"group":"simple"`) &&
		strings.Index(s, `"topic":"a"`) < strings.Index(s, `"offset":10`) &&
		strings.Index(s, `"offset":10`) < strings.Index(s, `"offset":20`)) {
		t.Fatalf("snapshot not sorted:\n%s", data)
	}

	g := newFSMHarness(t)
	if err := g.f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.f.state, h.f.state) {
		t.Fatalf("restored state differs:\n%+v\n%+v", g.f.state, h.f.state)
	}
	if again := g.snapshotBytes(); !bytes.Equal(again, data) {
		t.Fatalf("snapshot not stable across restore")
	}
	if !reflect.DeepEqual(g.f.offsets("g-stable"), h.f.offsets("g-stable")) || !reflect.DeepEqual(g.f.groups(), h.f.groups()) {
		t.Fatal("restored reads differ")
	}
}

func TestFSMRestoreVersion1(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(&putGroupCmd{Group: sampleGroup("replaced", GroupStateEmpty)})
	if err := h.f.Restore(io.NopCloser(strings.NewReader(groupsStateDoc()))); err != nil {
		t.Fatalf("version-1 snapshot: %v", err)
	}
	if tp, ok := h.f.topic("t"); !ok || tp.CreatedMs != 5 || h.f.nextProducerID() != 1000 || h.f.clusterID() != "c" {
		t.Fatalf("version-1 state not loaded: %+v", tp)
	}
	if ids := h.f.groupIDs(); len(ids) != 0 {
		t.Fatalf("groups after restoring a snapshot without any: %v", ids)
	}
	// The restored FSM takes group commands, and snapshots as the current version.
	h.mustApply(commitCmd("g", commit("t", 0, 1, 1)))
	if data := h.snapshotBytes(); !bytes.Contains(data, []byte(fmt.Sprintf(`"version":%d`, snapshotVersion))) {
		t.Fatalf("snapshot after restore:\n%s", data)
	}
}

func TestFSMRestoreRejectsBadGroups(t *testing.T) {
	off := func(s string) string { return `{"version":2,"offsets":[` + s + `]}` }
	for name, doc := range map[string]string{
		"bad state":       `{"version":2,"groups":[{"id":"g","state":"Dead"}]}`,
		"empty group id":  `{"version":2,"groups":[{"id":"","state":"Empty"}]}`,
		"dup group":       `{"version":2,"groups":[{"id":"g","state":"Empty"},{"id":"g","state":"Stable"}]}`,
		"dup member":      `{"version":2,"groups":[{"id":"g","state":"Stable","members":[{"memberId":"m"},{"memberId":"m"}]}]}`,
		"offsets no id":   off(`{"group":"","offsets":[{"topic":"t","partition":0}]}`),
		"offsets twice":   off(`{"group":"g","offsets":[{"topic":"t","partition":0}]},{"group":"g","offsets":[{"topic":"t","partition":1}]}`),
		"dup offset":      off(`{"group":"g","offsets":[{"topic":"t","partition":0},{"topic":"t","partition":0}]}`),
		"bad partition":   off(`{"group":"g","offsets":[{"topic":"t","partition":-1}]}`),
		"bad topic":       off(`{"group":"g","offsets":[{"topic":"a/b","partition":0}]}`),
		"bad offset":      off(`{"group":"g","offsets":[{"topic":"t","partition":0,"offset":-7}]}`),
		"groups not list": `{"version":2,"groups":{}}`,
		"version 4":       `{"version":4}`,
	} {
		t.Run(name, func(t *testing.T) {
			h := newFSMHarness(t)
			h.mustApply(&putGroupCmd{Group: sampleGroup("keep", GroupStateEmpty)})
			h.mustApply(commitCmd("keep", commit("t", 0, 1, 1)))
			before := h.snapshotBytes()
			if err := h.f.Restore(io.NopCloser(strings.NewReader(doc))); err == nil {
				t.Fatal("Restore accepted a bad snapshot")
			}
			if !bytes.Equal(before, h.snapshotBytes()) {
				t.Fatal("failed Restore changed the state")
			}
		})
	}
}

// populateGroups writes groups and offsets through the Store API.
func populateGroups(t *testing.T, s *Store) {
	t.Helper()
	ctx := testContext(t, 10*time.Second)
	if err := s.PutGroup(ctx, sampleGroup("stable", GroupStateStable)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGroup(ctx, sampleGroup("gone", GroupStateEmpty)); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitOffsets(ctx, "stable", []OffsetCommit{commit("orders", 0, 10, 5), commit("orders", 1, 11, 5)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitOffsets(ctx, "simple", []OffsetCommit{commit("orders", 2, 3, 5), commit("events", 0, 4, 5)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitOffsets(ctx, "gone", []OffsetCommit{commit("orders", 0, 1, 5)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroup(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteOffsets(ctx, "simple", []OffsetKey{{"events", 0}}); err != nil {
		t.Fatal(err)
	}
}

type groupView struct {
	Groups  []Group
	IDs     []string
	Offsets map[string]map[OffsetKey]CommittedOffset
}

func groupViewOf(s *Store) groupView {
	v := groupView{Groups: s.Groups(), IDs: s.GroupIDs(), Offsets: map[string]map[OffsetKey]CommittedOffset{}}
	for _, id := range v.IDs {
		v.Offsets[id] = s.Offsets(id)
	}
	return v
}

func checkGroupsPopulated(t *testing.T, s *Store) {
	t.Helper()
	want := groupView{
		Groups: []Group{sampleGroup("stable", GroupStateStable)},
		IDs:    []string{"simple", "stable"},
		Offsets: map[string]map[OffsetKey]CommittedOffset{
			"stable": {{"orders", 0}: commit("", 0, 10, 5).CommittedOffset, {"orders", 1}: commit("", 0, 11, 5).CommittedOffset},
			"simple": {{"orders", 2}: commit("", 0, 3, 5).CommittedOffset},
		},
	}
	if got := groupViewOf(s); !reflect.DeepEqual(got, want) {
		t.Fatalf("groups:\n got %+v\nwant %+v", got, want)
	}
	if o, ok := s.Offset("stable", OffsetKey{"orders", 1}); !ok || o.Offset != 11 {
		t.Fatalf("Offset = %+v, %v", o, ok)
	}
	if g, ok := s.Group("stable"); !ok || g.Generation != 3 || len(g.Members) != 2 {
		t.Fatalf("Group = %+v, %v", g, ok)
	}
}

func TestStoreGroupsRestart(t *testing.T) {
	for _, snapshot := range []bool{false, true} {
		t.Run(fmt.Sprintf("snapshot=%v", snapshot), func(t *testing.T) {
			cfg := singleNodeConfig(t, t.TempDir())
			if snapshot {
				cfg.TrailingLogs = 1
			}
			s := openLeader(t, cfg)
			populateGroups(t, s)
			checkGroupsPopulated(t, s)
			ctx := testContext(t, 5*time.Second)
			if err := s.DeleteGroup(ctx, "nope"); !errors.Is(err, ErrUnknownGroup) {
				t.Fatalf("DeleteGroup unknown: %v", err)
			}
			if err := s.PutGroup(ctx, Group{ID: "x", State: "Dead"}); !errors.Is(err, ErrInvalidCommand) {
				t.Fatalf("PutGroup bad state: %v", err)
			}
			if err := s.CommitOffsets(ctx, "", []OffsetCommit{commit("t", 0, 1, 1)}); !errors.Is(err, ErrInvalidCommand) {
				t.Fatalf("CommitOffsets no group: %v", err)
			}
			if err := s.CommitOffsets(ctx, "g", []OffsetCommit{commit("t", -1, 1, 1)}); !errors.Is(err, ErrInvalidCommand) {
				t.Fatalf("CommitOffsets bad partition: %v", err)
			}
			if n, err := s.ExpireOffsets(ctx, 10, 0); err != nil || n != 1 { // only "simple" has no metadata
				t.Fatalf("ExpireOffsets = %d, %v", n, err)
			}
			if snapshot {
				if err := s.raft.Snapshot().Error(); err != nil {
					t.Fatal(err)
				}
			}
			// After the snapshot: replayed from the log. A zero commit
			// time is stamped by the proposer.
			before := time.Now().UnixMilli()
			if err := s.CommitOffsets(ctx, "simple", []OffsetCommit{{OffsetKey{"orders", 2}, CommittedOffset{Offset: 3, LeaderEpoch: -1}}}); err != nil {
				t.Fatal(err)
			}
			o, _ := s.Offset("simple", OffsetKey{"orders", 2})
			if o.CommitTimeMs < before || o.CommitTimeMs > time.Now().UnixMilli() {
				t.Fatalf("commit time %d not stamped (now %d)", o.CommitTimeMs, before)
			}
			view := groupViewOf(s)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.CommitOffsets(ctx, "g", []OffsetCommit{commit("t", 0, 1, 1)}); !errors.Is(err, ErrClosed) {
				t.Fatalf("CommitOffsets after Close: %v", err)
			}
			s2 := openLeader(t, cfg)
			if snapshot {
				if first, _ := s2.logStore.FirstIndex(); first <= 1 {
					t.Fatalf("log not compacted (first index %d)", first)
				}
			}
			if got := groupViewOf(s2); !reflect.DeepEqual(got, view) {
				t.Fatalf("after restart:\n got %+v\nwant %+v", got, view)
			}
		})
	}
}

func TestStoreDeleteTopicRemovesOffsets(t *testing.T) {
	s := openLeader(t, singleNodeConfig(t, t.TempDir()))
	ctx := testContext(t, 10*time.Second)
	if _, err := s.CreateTopic(ctx, "doomed", 2, nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitOffsets(ctx, "g", []OffsetCommit{commit("doomed", 0, 1, 1), commit("doomed", 1, 1, 1), commit("kept", 0, 1, 1)}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTopic(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if got := s.Offsets("g"); !reflect.DeepEqual(slicesOfKeys(got), []OffsetKey{{"kept", 0}}) {
		t.Fatalf("offsets after DeleteTopic = %v", got)
	}
}

func slicesOfKeys(m map[OffsetKey]CommittedOffset) []OffsetKey {
	return slices.SortedFunc(maps.Keys(m), compareOffsetKeys)
}

// TestStoreCommitOffsetsBatched: concurrent commits share Raft entries.
func TestStoreCommitOffsetsBatched(t *testing.T) {
	s := openLeader(t, singleNodeConfig(t, t.TempDir()))
	ctx := testContext(t, 30*time.Second)
	const callers = 200
	start := s.raft.LastIndex()
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	gate := make(chan struct{})
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			group := fmt.Sprintf("group-%03d", i%50)
			errs <- s.CommitOffsets(ctx, group, []OffsetCommit{commit("t", int32(i), int64(i), 1), commit("u", int32(i), int64(i)+1, 1)})
		}()
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	entries := s.raft.LastIndex() - start
	t.Logf("%d concurrent CommitOffsets calls took %d raft entries", callers, entries)
	if entries >= 50 {
		t.Fatalf("%d calls took %d raft entries: not batched", callers, entries)
	}
	// Every commit landed, and each call returned after its own commit
	// was applied (checked here after all returned).
	for i := range callers {
		group := fmt.Sprintf("group-%03d", i%50)
		if o, ok := s.Offset(group, OffsetKey{"u", int32(i)}); !ok || o.Offset != int64(i)+1 {
			t.Fatalf("%s u-%d = %+v, %v", group, i, o, ok)
		}
	}
	if n := len(s.GroupIDs()); n != 50 {
		t.Fatalf("%d groups", n)
	}
}

// A call returns only once its own commit is readable (read-your-writes on
// the leader), also when it rides in someone else's batch.
func TestStoreCommitOffsetsReadYourWrites(t *testing.T) {
	s := openLeader(t, singleNodeConfig(t, t.TempDir()))
	ctx := testContext(t, 30*time.Second)
	var wg sync.WaitGroup
	var bad atomic.Int32
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			group := fmt.Sprintf("g%d", w)
			for i := range 30 {
				if err := s.CommitOffsets(ctx, group, []OffsetCommit{commit("t", 0, int64(i), 1)}); err != nil {
					t.Error(err)
					return
				}
				if o, _ := s.Offset(group, OffsetKey{"t", 0}); o.Offset != int64(i) {
					bad.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d commits not visible when CommitOffsets returned", bad.Load())
	}
}

func TestStoreCommitOffsetsContext(t *testing.T) {
	s := openLeader(t, singleNodeConfig(t, t.TempDir()))
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.CommitOffsets(canceled, "g", []OffsetCommit{commit("t", 0, 1, 1)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled ctx: %v", err)
	}
	if _, ok := s.Offset("g", OffsetKey{"t", 0}); ok {
		t.Fatal("commit with a canceled context was applied")
	}
	// A queued request whose caller gave up is not proposed.
	s.commits.mu.Lock()
	s.commits.running = true // hold the proposer off
	s.commits.mu.Unlock()
	ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := s.CommitOffsets(ctx, "g", []OffsetCommit{commit("t", 0, 1, 1)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed-out commit: %v", err)
	}
	s.commits.mu.Lock()
	batch := s.commits.takeLocked()
	s.commits.running = false
	s.commits.mu.Unlock()
	if len(batch) != 0 {
		t.Fatalf("abandoned request would be proposed: %d", len(batch))
	}
	// No commits is a no-op; it still checks the group id.
	if err := s.CommitOffsets(context.Background(), "g", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitOffsets(context.Background(), "", nil); !errors.Is(err, ErrInvalidCommand) {
		t.Fatalf("empty group: %v", err)
	}
}

// BenchmarkCommitOffsets: many consumers committing concurrently (one
// group each, 4 partitions per commit) against a single-node store. Reports
// calls/s and Raft entries per call. "unbatched" proposes one entry per
// call, for comparison.
func BenchmarkCommitOffsets(b *testing.B) {
	cfg := Config{NodeID: 1, DataDir: b.TempDir(), BindAddress: freePort(b), Bootstrap: true, Logger: testLogger(b)}
	s, err := Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := s.WaitForLeader(ctx); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name   string
		commit func(group string, commits []OffsetCommit) error
	}{
		{"batched", func(group string, commits []OffsetCommit) error { return s.CommitOffsets(ctx, group, commits) }},
		{"unbatched", func(group string, commits []OffsetCommit) error {
			_, err := s.propose(ctx, commitCmd(group, commits...))
			return err
		}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			var next atomic.Int64
			b.SetParallelism(64) // 64 callers per core
			start := s.raft.LastIndex()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				group := fmt.Sprintf("consumer-%d", next.Add(1))
				commits := make([]OffsetCommit, 4)
				for i := int64(0); pb.Next(); i++ {
					for p := range commits {
						commits[p] = commit("bench-topic", int32(p), i, 1)
					}
					if err := mode.commit(group, commits); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
			b.ReportMetric(float64(s.raft.LastIndex()-start)/float64(b.N), "entries/commit")
		})
	}
}
