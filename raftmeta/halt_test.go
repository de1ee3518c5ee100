package raftmeta

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// unknownType is a command type no version knows yet, without the
// ignorable bit: a node halts on it.
const unknownType = 0x7e

// TestFSMHaltsOnUnknownCommandType: a log entry of a type this node does
// not know halts the FSM: the entry and every later one are not applied,
// the state stays as it was, snapshots are refused and the halt names the
// entry.
func TestFSMHaltsOnUnknownCommandType(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(&registerBrokerCmd{Broker: Broker{ID: 1, Host: "h", Port: 9092, Version: "9.9.9"}})
	h.mustApply(createCmd("t", 1, 1))
	before := h.snapshotBytes()
	changed := h.f.Changed()
	select {
	case <-h.f.halt.halted:
		t.Fatal("halted before any unknown entry")
	default:
	}

	resp := h.applyRaw([]byte{unknownType, '{', '}'})
	haltIndex := h.index
	herr, ok := resp.(*HaltError)
	if !ok {
		t.Fatalf("Apply of an unknown type = %#v, want a *HaltError", resp)
	}
	if herr.Index != haltIndex || herr.Term != 1 || herr.CommandType != unknownType || !errors.Is(herr, ErrHalted) {
		t.Fatalf("halt error = %+v", herr)
	}
	for _, want := range []string{"raft log entry 3", "command type 126 (0x7e)", "must be upgraded"} {
		if !strings.Contains(herr.Error(), want) {
			t.Errorf("halt error %q does not say %q", herr, want)
		}
	}
	select {
	case <-h.f.halt.halted:
	default:
		t.Fatal("halted channel not closed")
	}
	if got := h.f.halt.haltErr(); got != herr {
		t.Fatalf("haltErr = %v, want %v", got, herr)
	}

	// Nothing more applies, valid or not, known or not.
	for _, c := range []command{createCmd("later", 2, 1), &deleteTopicCmd{Name: "t"}, &allocateProducerIDsCmd{Count: 5}} {
		_, err := h.apply(c)
		if !errors.Is(err, ErrHalted) || !strings.Contains(err.Error(), "raft log entry 3") {
			t.Fatalf("apply %s after the halt: %v, want ErrHalted naming entry 3", c.commandType(), err)
		}
	}
	for _, data := range [][]byte{{unknownType + 1}, {0x8e, '{', '}'}, {byte(cmdCreateTopic), '{'}} {
		if err, _ := h.applyRaw(data).(error); !errors.Is(err, ErrHalted) {
			t.Fatalf("apply %q after the halt: %v, want ErrHalted", data, err)
		}
	}
	if got := h.f.halt.haltErr(); got != herr {
		t.Fatalf("a later entry replaced the halt: %v", got)
	}
	if _, ok := h.f.topic("later"); ok {
		t.Fatal("a command after the halt was applied")
	}
	select {
	case <-changed:
		t.Fatal("Changed closed while halted")
	default:
	}
	// Non-command entries are Raft's, not the FSM's.
	h.index++
	if resp := h.f.Apply(&raft.Log{Index: h.index, Type: raft.LogNoop}); resp != nil {
		t.Fatalf("noop response while halted = %v", resp)
	}

	// No snapshot would be true to its index, and none is restored.
	if _, err := h.f.Snapshot(); !errors.Is(err, ErrHalted) {
		t.Fatalf("Snapshot while halted: %v, want ErrHalted", err)
	}
	if err := h.f.Restore(io.NopCloser(bytes.NewReader(before))); !errors.Is(err, ErrHalted) {
		t.Fatalf("Restore while halted: %v, want ErrHalted", err)
	}
	// The state underneath is the one before the unknown entry.
	h.f.halt = newHaltState()
	if after := h.snapshotBytes(); !bytes.Equal(before, after) {
		t.Fatalf("state changed across the halt:\nbefore %s\nafter  %s", before, after)
	}
}

// TestFSMSkipsUnknownIgnorableCommand: an unknown type with the ignorable
// bit is skipped, whatever its body, and the FSM goes on.
func TestFSMSkipsUnknownIgnorableCommand(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(createCmd("t", 1, 1))
	before := h.snapshotBytes()
	for _, data := range [][]byte{{0x80}, {0x8e, '{', '"', 'x', '"', ':', '1', '}'}, {0xff, 'n', 'o', 't', ' ', 'j', 's', 'o', 'n'}} {
		if resp := h.applyRaw(data); resp != nil {
			t.Fatalf("Apply(%q) = %v, want nil (skipped)", data, resp)
		}
	}
	if err := h.f.halt.haltErr(); err != nil {
		t.Fatalf("halted on an ignorable type: %v", err)
	}
	if after := h.snapshotBytes(); !bytes.Equal(before, after) {
		t.Fatal("a skipped command changed the state")
	}
	h.mustApply(createCmd("next", 2, 1))
	if _, ok := h.f.topic("next"); !ok {
		t.Fatal("the command after a skipped one was not applied")
	}
}

// TestFSMGarbledKnownTypeDoesNotHalt: a known type with a body that does
// not decode or validate is a rejected no-op, as on every node, and the
// FSM goes on.
func TestFSMGarbledKnownTypeDoesNotHalt(t *testing.T) {
	h := newFSMHarness(t)
	for _, data := range [][]byte{{byte(cmdCreateTopic), '{'}, []byte("\x02{}"), []byte("\x07{\"count\":-1}")} {
		err, _ := h.applyRaw(data).(error)
		if !errors.Is(err, ErrInvalidCommand) && !errors.Is(err, ErrInvalidTopic) {
			t.Fatalf("Apply(%q) = %v, want a rejection", data, err)
		}
		if errors.Is(err, ErrHalted) {
			t.Fatalf("Apply(%q) halted: %v", data, err)
		}
	}
	if err := h.f.halt.haltErr(); err != nil {
		t.Fatalf("halted on a garbled known type: %v", err)
	}
	h.mustApply(createCmd("t", 1, 1))
}

// TestBrokerVersionSnapshot: the version a broker reports survives a
// snapshot round trip, and a snapshot of a broker that reports none (an
// older one) does not gain the field.
func TestBrokerVersionSnapshot(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(&registerBrokerCmd{Broker: Broker{ID: 1, Host: "h1", Port: 9092, Version: "2.1.0"}})
	h.mustApply(&registerBrokerCmd{Broker: Broker{ID: 2, Host: "h2", Port: 9092}})
	data := h.snapshotBytes()
	if !bytes.Contains(data, []byte(`"version":"2.1.0"`)) || bytes.Count(data, []byte(`"version":"`)) != 1 {
		t.Fatalf("snapshot does not hold exactly broker 1's version:\n%s", data)
	}
	g := newFSMHarness(t)
	if err := g.f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	want := []Broker{{ID: 1, Host: "h1", Port: 9092, Version: "2.1.0"}, {ID: 2, Host: "h2", Port: 9092}}
	if got := g.f.brokers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("restored brokers = %+v, want %+v", got, want)
	}
	// A snapshot written before the field existed restores with no
	// version.
	old := `{"version":2,"brokers":[{"id":3,"host":"h3","port":9092}]}`
	if err := g.f.Restore(io.NopCloser(strings.NewReader(old))); err != nil {
		t.Fatal(err)
	}
	if got := g.f.brokers(); len(got) != 1 || got[0].Version != "" {
		t.Fatalf("brokers from an old snapshot = %+v", got)
	}
}

// TestStoreHalted: through a real Raft node, an unknown entry closes
// Halted and sets HaltErr, later writes fail with ErrHalted without being
// applied, reads keep the state from before, and a halted leader refuses
// forwarded writes before they reach the log, as not-leader.
func TestStoreHalted(t *testing.T) {
	cfg := singleNodeConfig(t, t.TempDir())
	s := openLeader(t, cfg)
	ctx := testContext(t, 10*time.Second)
	if err := s.HaltErr(); err != nil {
		t.Fatalf("HaltErr before any halt = %v", err)
	}
	if _, err := s.CreateTopic(ctx, "before", 1, nil, nil); err != nil {
		t.Fatal(err)
	}
	// An ignorable unknown entry is skipped.
	f := s.raft.Apply([]byte{0x8e, '{', '}'}, 5*time.Second)
	if err := f.Error(); err != nil || f.Response() != nil {
		t.Fatalf("ignorable entry: %v, response %v", err, f.Response())
	}
	// A non-ignorable one, as a newer leader would have written it.
	f = s.raft.Apply([]byte{unknownType, '{', '}'}, 5*time.Second)
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Halted():
	case <-time.After(5 * time.Second):
		t.Fatal("Halted not closed")
	}
	var herr *HaltError
	if err := s.HaltErr(); !errors.As(err, &herr) || herr.Index != f.Index() || herr.CommandType != unknownType || !errors.Is(err, ErrHalted) {
		t.Fatalf("HaltErr = %v, want a *HaltError for entry %d type %d", err, f.Index(), unknownType)
	}

	if _, err := s.CreateTopic(ctx, "after", 1, nil, nil); !errors.Is(err, ErrHalted) {
		t.Fatalf("CreateTopic while halted: %v, want ErrHalted", err)
	}
	if _, ok := s.Topic("after"); ok {
		t.Fatal("a write after the halt was applied")
	}
	if _, ok := s.Topic("before"); !ok {
		t.Fatal("the state before the halt is gone")
	}
	if err := s.raft.Snapshot().Error(); err == nil {
		t.Fatal("Raft took a snapshot of a halted FSM")
	}

	// A forwarded write is refused before it reaches the log.
	data, err := encodeCommand(createCmd("forwarded", 3, 1))
	if err != nil {
		t.Fatal(err)
	}
	last := s.raft.LastIndex()
	resp := s.applyForwarded(data)
	if resp.Sentinel != "not-leader" || resp.Index != 0 || !strings.Contains(resp.Error, "halted") {
		t.Fatalf("forwarded write to a halted leader: %+v", resp)
	}
	if s.raft.LastIndex() != last {
		t.Fatal("a forwarded write to a halted leader reached the log")
	}
	// So are offset commits, the leader's own hot write.
	if err := s.CommitOffsets(ctx, "g", []OffsetCommit{commit("before", 0, 1, 1)}); !errors.Is(err, ErrHalted) {
		t.Fatalf("CommitOffsets while halted: %v, want ErrHalted", err)
	}
	if s.raft.LastIndex() != last {
		t.Fatal("an offset commit on a halted leader reached the log")
	}

	// Restarted on the same version, the node replays its log and halts
	// again on the same entry, with the state from before it.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, cfg) // WaitForLeader would fail: the node is halted
	select {
	case <-s2.Halted():
	case <-time.After(5 * time.Second):
		t.Fatal("not halted again after a restart")
	}
	if err := s2.HaltErr(); !errors.As(err, &herr) || herr.Index != f.Index() {
		t.Fatalf("HaltErr after a restart = %v, want entry %d", err, f.Index())
	}
	if _, ok := s2.Topic("before"); !ok {
		t.Fatal("the state before the halt is gone after a restart")
	}
}

// TestClusterHaltsOnUnknownCommandType: followers halt on the same entry
// as the leader (every node here runs the same version), and a follower
// whose forwarded write the leader applied but it could not says so
// rather than return a write its reads do not show.
func TestClusterHaltsOnUnknownCommandType(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	c := newTestCluster(t, 3)
	li := c.leader()
	leader := c.stores[li]
	ctx := testContext(t, 10*time.Second)
	if _, err := leader.CreateTopic(ctx, "t", 1, nil, nil); err != nil {
		t.Fatal(err)
	}
	f := leader.raft.Apply([]byte{unknownType, '{', '}'}, 5*time.Second)
	if err := f.Error(); err != nil {
		t.Fatal(err)
	}
	for i, s := range c.stores {
		select {
		case <-s.Halted():
		case <-time.After(10 * time.Second):
			t.Fatalf("node %d did not halt", i+1)
		}
		var herr *HaltError
		if !errors.As(s.HaltErr(), &herr) || herr.Index != f.Index() {
			t.Fatalf("node %d: HaltErr = %v, want entry %d", i+1, s.HaltErr(), f.Index())
		}
		if _, ok := s.Topic("t"); !ok {
			t.Fatalf("node %d lost the state before the halt", i+1)
		}
	}
	// A follower cannot read its own write past its halt.
	fi := (li + 1) % 3
	if err := c.stores[fi].waitApplied(ctx, f.Index(), time.Now().Add(5*time.Second)); !errors.Is(err, ErrHalted) {
		t.Fatalf("waitApplied past the halt on a follower: %v, want ErrHalted", err)
	}
	if err := c.stores[fi].waitApplied(ctx, f.Index()-1, time.Now().Add(5*time.Second)); err != nil {
		t.Fatalf("waitApplied before the halt on a follower: %v", err)
	}
	// A halted follower proposes nothing (the halted leader would
	// refuse it as not-leader anyway), and says why.
	if _, err := c.stores[fi].CreateTopic(ctx, "u", 1, nil, nil); !errors.Is(err, ErrHalted) {
		t.Fatalf("CreateTopic on a halted follower: %v, want ErrHalted", err)
	}
	if err := c.stores[fi].WaitForLeader(ctx); !errors.Is(err, ErrHalted) {
		t.Fatalf("WaitForLeader on a halted follower: %v, want ErrHalted", err)
	}
}
