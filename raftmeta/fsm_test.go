package raftmeta

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type fsmHarness struct {
	t     testing.TB
	f     *fsm
	index uint64
}

func newFSMHarness(t testing.TB) *fsmHarness {
	return &fsmHarness{t: t, f: newFSM(testLogger(t))}
}

func (h *fsmHarness) applyRaw(data []byte) any {
	h.index++
	return h.f.Apply(&raft.Log{Index: h.index, Term: 1, Type: raft.LogCommand, Data: data})
}

// apply encodes c and applies it, returning (result, error response).
func (h *fsmHarness) apply(c command) (any, error) {
	h.t.Helper()
	data, err := encodeCommand(c)
	if err != nil {
		h.t.Fatal(err)
	}
	resp := h.applyRaw(data)
	if err, ok := resp.(error); ok {
		return nil, err
	}
	return resp, nil
}

func (h *fsmHarness) mustApply(c command) any {
	h.t.Helper()
	resp, err := h.apply(c)
	if err != nil {
		h.t.Fatalf("apply %s: %v", c.commandType(), err)
	}
	return resp
}

func (h *fsmHarness) wantErr(c command, want error) {
	h.t.Helper()
	before := h.snapshotBytes()
	_, err := h.apply(c)
	if !errors.Is(err, want) {
		h.t.Fatalf("apply %s: got error %v, want %v", c.commandType(), err, want)
	}
	if after := h.snapshotBytes(); !bytes.Equal(before, after) {
		h.t.Fatalf("rejected %s changed the state:\nbefore %s\nafter  %s", c.commandType(), before, after)
	}
}

func (h *fsmHarness) snapshotBytes() []byte {
	h.t.Helper()
	snap, err := h.f.Snapshot()
	if err != nil {
		h.t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := snap.(*fsmSnapshot).writeTo(&buf); err != nil {
		h.t.Fatal(err)
	}
	return buf.Bytes()
}

func testID(b byte) TopicID {
	var id TopicID
	for i := range id {
		id[i] = b
	}
	return id
}

func createCmd(name string, id byte, partitions int) *createTopicCmd {
	ls := make([]int32, partitions)
	for i := range ls {
		ls[i] = int32(i % 3)
	}
	return &createTopicCmd{Name: name, ID: testID(id), Leaders: ls, CreatedMs: 1700000000000}
}

func TestFSMRegisterBroker(t *testing.T) {
	h := newFSMHarness(t)
	b := Broker{ID: 1, Host: "h1", Port: 9092, Rack: "r1", Listeners: map[string]string{"PLAINTEXT": "h1:9092"}}
	h.mustApply(&registerBrokerCmd{Broker: b})
	h.mustApply(&registerBrokerCmd{Broker: Broker{ID: 0, Host: "h0", Port: 9092}})
	b.Port = 9093 // re-registration replaces
	h.mustApply(&registerBrokerCmd{Broker: b})
	got := h.f.brokers()
	if len(got) != 2 || got[0].ID != 0 || !reflect.DeepEqual(got[1], b) {
		t.Fatalf("brokers = %+v", got)
	}
	got[1].Listeners["PLAINTEXT"] = "mutated"
	if h.f.brokers()[1].Listeners["PLAINTEXT"] != "h1:9092" {
		t.Fatal("Brokers returned shared map")
	}
	for _, bad := range []Broker{{ID: -1, Host: "h", Port: 1}, {ID: 1, Port: 1}, {ID: 1, Host: "h"}, {ID: 1, Host: "h", Port: 70000}, {ID: 1, Host: "h", Port: 1, Listeners: map[string]string{"": "x"}}} {
		h.wantErr(&registerBrokerCmd{Broker: bad}, ErrInvalidCommand)
	}
}

func TestFSMCreateTopic(t *testing.T) {
	h := newFSMHarness(t)
	c := createCmd("orders", 1, 3)
	c.Configs = map[string]string{"retention.ms": "1000"}
	resp := h.mustApply(c)
	topic, ok := resp.(Topic)
	if !ok {
		t.Fatalf("response %T, want Topic", resp)
	}
	want := Topic{Name: "orders", ID: testID(1), CreatedMs: 1700000000000, Configs: map[string]string{"retention.ms": "1000"},
		Partitions: []Partition{{0, 0, 0}, {1, 1, 0}, {2, 2, 0}}}
	if !reflect.DeepEqual(topic, want) {
		t.Fatalf("got %+v\nwant %+v", topic, want)
	}
	if got, _ := h.f.topic("orders"); !reflect.DeepEqual(got, want) {
		t.Fatalf("topic() = %+v", got)
	}
	if got, ok := h.f.topicByID(testID(1)); !ok || got.Name != "orders" {
		t.Fatalf("topicByID = %+v %v", got, ok)
	}

	h.wantErr(createCmd("orders", 2, 1), ErrTopicExists)
	h.wantErr(createCmd("other", 1, 1), ErrInvalidCommand) // id reuse
	h.wantErr(createCmd("bad name", 3, 1), ErrInvalidTopic)
	h.wantErr(createCmd("", 3, 1), ErrInvalidTopic)
	h.wantErr(createCmd(strings.Repeat("x", 250), 3, 1), ErrInvalidTopic)
	h.wantErr(createCmd("zero", 0, 1), ErrInvalidCommand)
	h.wantErr(createCmd("none", 3, 0), ErrInvalidPartitions)
	h.wantErr(createCmd("huge", 3, MaxPartitionsPerTopic+1), ErrInvalidPartitions)
	h.wantErr(&createTopicCmd{Name: "badleader", ID: testID(3), Leaders: []int32{-2}}, ErrInvalidCommand)
	h.wantErr(&createTopicCmd{Name: "badcfg", ID: testID(3), Leaders: []int32{0}, Configs: map[string]string{"": "v"}}, ErrInvalidCommand)

	h.mustApply(createCmd("a.b", 4, 1))
	h.wantErr(createCmd("a_b", 5, 1), ErrInvalidTopic) // Kafka's '.'/'_' collision rule

	names := []string{}
	for _, tp := range h.f.topics() {
		names = append(names, tp.Name)
	}
	if !reflect.DeepEqual(names, []string{"a.b", "orders"}) {
		t.Fatalf("topics = %v", names)
	}
}

func TestFSMDeleteTopic(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(createCmd("t", 1, 1))
	h.mustApply(&deleteTopicCmd{Name: "t"})
	if _, ok := h.f.topic("t"); ok {
		t.Fatal("topic still there")
	}
	if _, ok := h.f.topicByID(testID(1)); ok {
		t.Fatal("topic id still indexed")
	}
	h.wantErr(&deleteTopicCmd{Name: "t"}, ErrUnknownTopic)
	h.wantErr(&deleteTopicCmd{}, ErrInvalidCommand)
	h.mustApply(createCmd("t", 1, 2)) // name and id are free again
}

func TestFSMCreatePartitions(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(createCmd("t", 1, 2))
	h.mustApply(&setPartitionLeaderCmd{Topic: "t", Partition: 1, Leader: 7})
	h.mustApply(&createPartitionsCmd{Name: "t", Total: 4, Leaders: []int32{5, 6}})
	got, _ := h.f.topic("t")
	want := []Partition{{0, 0, 0}, {1, 7, 1}, {2, 5, 0}, {3, 6, 0}}
	if !reflect.DeepEqual(got.Partitions, want) {
		t.Fatalf("partitions = %+v", got.Partitions)
	}
	h.wantErr(&createPartitionsCmd{Name: "nope", Total: 5, Leaders: []int32{1}}, ErrUnknownTopic)
	h.wantErr(&createPartitionsCmd{Name: "t", Total: 4, Leaders: []int32{1}}, ErrInvalidPartitions)
	h.wantErr(&createPartitionsCmd{Name: "t", Total: 3, Leaders: []int32{1}}, ErrInvalidPartitions)
	// Proposed against a stale partition count.
	h.wantErr(&createPartitionsCmd{Name: "t", Total: 6, Leaders: []int32{1, 1, 1}}, ErrInvalidPartitions)
	h.wantErr(&createPartitionsCmd{Name: "t", Total: 6, Leaders: nil}, ErrInvalidCommand)
	h.wantErr(&createPartitionsCmd{Name: "t", Total: MaxPartitionsPerTopic + 1, Leaders: []int32{1}}, ErrInvalidPartitions)
}

func TestFSMSetTopicConfigs(t *testing.T) {
	h := newFSMHarness(t)
	c := createCmd("t", 1, 1)
	c.Configs = map[string]string{"a": "1", "b": "2"}
	h.mustApply(c)
	h.mustApply(&setTopicConfigsCmd{Name: "t", Configs: map[string]string{"c": "3"}})
	if got, _ := h.f.topic("t"); !reflect.DeepEqual(got.Configs, map[string]string{"c": "3"}) {
		t.Fatalf("configs = %v", got.Configs)
	}
	h.mustApply(&setTopicConfigsCmd{Name: "t"})
	if got, _ := h.f.topic("t"); got.Configs != nil {
		t.Fatalf("configs = %v, want none", got.Configs)
	}
	h.wantErr(&setTopicConfigsCmd{Name: "nope"}, ErrUnknownTopic)
	h.wantErr(&setTopicConfigsCmd{Name: "t", Configs: map[string]string{"": "x"}}, ErrInvalidCommand)
}

func TestFSMSetPartitionLeader(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(createCmd("t", 1, 2))
	for want := int32(1); want <= 3; want++ {
		resp := h.mustApply(&setPartitionLeaderCmd{Topic: "t", Partition: 1, Leader: 2})
		if resp != want {
			t.Fatalf("epoch = %v, want %d", resp, want)
		}
	}
	h.mustApply(&setPartitionLeaderCmd{Topic: "t", Partition: 0, Leader: NoLeader})
	got, _ := h.f.topic("t")
	if want := []Partition{{0, NoLeader, 1}, {1, 2, 3}}; !reflect.DeepEqual(got.Partitions, want) {
		t.Fatalf("partitions = %+v", got.Partitions)
	}
	h.wantErr(&setPartitionLeaderCmd{Topic: "nope", Partition: 0, Leader: 1}, ErrUnknownTopic)
	h.wantErr(&setPartitionLeaderCmd{Topic: "t", Partition: 2, Leader: 1}, ErrUnknownPartition)
	h.wantErr(&setPartitionLeaderCmd{Topic: "t", Partition: -1, Leader: 1}, ErrUnknownPartition)
	h.wantErr(&setPartitionLeaderCmd{Topic: "t", Partition: 0, Leader: -5}, ErrInvalidCommand)
}

func TestFSMAllocateProducerIDs(t *testing.T) {
	h := newFSMHarness(t)
	if first := h.mustApply(&allocateProducerIDsCmd{Count: 1000}); first != int64(0) {
		t.Fatalf("first = %v", first)
	}
	if first := h.mustApply(&allocateProducerIDsCmd{Count: 10}); first != int64(1000) {
		t.Fatalf("first = %v", first)
	}
	h.wantErr(&allocateProducerIDsCmd{Count: 0}, ErrInvalidCommand)
	h.wantErr(&allocateProducerIDsCmd{Count: -1}, ErrInvalidCommand)
	h.wantErr(&allocateProducerIDsCmd{Count: MaxProducerIDBlock + 1}, ErrInvalidCommand)
	h.f.state.nextProducerID = 1<<63 - 5
	h.wantErr(&allocateProducerIDsCmd{Count: 10}, ErrProducerIDsExhausted)
}

func TestFSMGarbledCommands(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(createCmd("t", 1, 1))
	before := h.snapshotBytes()
	for _, data := range [][]byte{
		nil,
		{},
		{byte(cmdCreateTopic)},
		{byte(cmdCreateTopic), '{'},
		{byte(cmdCreateTopic), 'n', 'u', 'l', 'l', 'x'},
		[]byte("\x02{\"name\":\"t2\",\"id\":\"not-a-uuid\",\"leaders\":[0]}"),
		[]byte("\x02{\"name\":\"t2\",\"leaders\":\"zero\"}"),
		[]byte("\x06{\"topic\":\"t\",\"partition\":99999999999}"),
		[]byte("\x07{\"count\":1e30}"),
		[]byte("\x02{}"),
		[]byte("\x07{}"),
	} {
		resp := h.applyRaw(data)
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
	// Non-command entries are not ours to interpret.
	h.index++
	if resp := h.f.Apply(&raft.Log{Index: h.index, Type: raft.LogNoop}); resp != nil {
		t.Fatalf("noop response = %v", resp)
	}
}

func TestFSMChangedNotifies(t *testing.T) {
	h := newFSMHarness(t)
	ch := h.f.Changed()
	h.wantErr(&deleteTopicCmd{Name: "nope"}, ErrUnknownTopic)
	select {
	case <-ch:
		t.Fatal("Changed closed by a rejected command")
	default:
	}
	h.mustApply(createCmd("t", 1, 1))
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed after a command")
	}
	if h.f.Changed() == ch {
		t.Fatal("Changed channel not replaced")
	}
}

func TestFSMSnapshotRestore(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(&registerBrokerCmd{Broker: Broker{ID: 1, Host: "h", Port: 9092, Listeners: map[string]string{"PLAINTEXT": "h:9092"}}})
	c := createCmd("t1", 1, 3)
	c.Configs = map[string]string{"cleanup.policy": "compact"}
	h.mustApply(c)
	h.mustApply(createCmd("t0", 2, 1))
	h.mustApply(&setPartitionLeaderCmd{Topic: "t1", Partition: 2, Leader: 1})
	h.mustApply(&allocateProducerIDsCmd{Count: 42})
	data := h.snapshotBytes()
	if !bytes.Contains(data, []byte(fmt.Sprintf(`{"record":"header","version":%d`, snapshotVersion))) || !bytes.Contains(data, []byte(testID(1).String())) {
		t.Fatalf("snapshot is not the readable JSON expected:\n%s", data)
	}

	g := newFSMHarness(t)
	ch := g.f.Changed()
	if err := g.f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	<-ch
	if !reflect.DeepEqual(g.f.state, h.f.state) {
		t.Fatalf("restored state differs:\n%+v\n%+v", g.f.state, h.f.state)
	}
	if again := g.snapshotBytes(); !bytes.Equal(again, data) {
		t.Fatalf("snapshot not stable across restore")
	}
	// The restored FSM keeps allocating after the restored block.
	if first := g.mustApply(&allocateProducerIDsCmd{Count: 1}); first != int64(42) {
		t.Fatalf("first = %v", first)
	}
}

func TestFSMRestoreRejectsBadSnapshots(t *testing.T) {
	id := testID(1).String()
	for name, doc := range map[string]string{
		"not json":      "{",
		"empty":         "",
		"future":        `{"version": 99}`,
		"no version":    `{"topics": []}`,
		"bad id":        `{"version":1,"topics":[{"name":"t","id":"xyz","partitions":[{"index":0,"leader":0}]}]}`,
		"zero id":       `{"version":1,"topics":[{"name":"t","id":"00000000-0000-0000-0000-000000000000","partitions":[{"index":0,"leader":0}]}]}`,
		"bad index":     `{"version":1,"topics":[{"name":"t","id":"` + id + `","partitions":[{"index":3,"leader":0}]}]}`,
		"no partitions": `{"version":1,"topics":[{"name":"t","id":"` + id + `","partitions":[]}]}`,
		"dup topic":     `{"version":1,"topics":[{"name":"t","id":"` + id + `","partitions":[{"index":0}]},{"name":"t","id":"` + testID(2).String() + `","partitions":[{"index":0}]}]}`,
		"dup id":        `{"version":1,"topics":[{"name":"t","id":"` + id + `","partitions":[{"index":0}]},{"name":"u","id":"` + id + `","partitions":[{"index":0}]}]}`,
		"dup broker":    `{"version":1,"brokers":[{"id":1,"host":"h","port":1},{"id":1,"host":"h","port":1}]}`,
		"bad broker":    `{"version":1,"brokers":[{"id":1,"host":"","port":1}]}`,
		"negative pid":  `{"version":1,"nextProducerId":-1}`,
		// Version 4: type-tagged records, one per line.
		"v4 no end":          `{"record":"header","version":4}` + "\n" + `{"record":"broker","broker":{"id":1,"host":"h","port":1}}`,
		"v4 miscounted":      `{"record":"header","version":4}` + "\n" + `{"record":"broker","broker":{"id":1,"host":"h","port":1}}` + "\n" + `{"record":"end","records":2}`,
		"v4 end uncounted":   `{"record":"header","version":4}` + "\n" + `{"record":"end"}`,
		"v4 after end":       `{"record":"header","version":4}` + "\n" + `{"record":"end","records":0}` + "\n" + `{"record":"end","records":0}`,
		"v4 no header":       `{"record":"broker","broker":{"id":1,"host":"h","port":1}}` + "\n" + `{"record":"end","records":1}`,
		"v4 two headers":     `{"record":"header","version":4}` + "\n" + `{"record":"header","version":4}` + "\n" + `{"record":"end","records":1}`,
		"v4 unknown record":  `{"record":"header","version":4}` + "\n" + `{"record":"mystery"}` + "\n" + `{"record":"end","records":1}`,
		"v4 wrong field":     `{"record":"header","version":4}` + "\n" + `{"record":"topic","broker":{"id":1,"host":"h","port":1}}` + "\n" + `{"record":"end","records":1}`,
		"v4 two fields":      `{"record":"header","version":4}` + "\n" + `{"record":"broker","broker":{"id":1,"host":"h","port":1},"topic":{"name":"t"}}` + "\n" + `{"record":"end","records":1}`,
		"v4 bad topic":       `{"record":"header","version":4}` + "\n" + `{"record":"topic","topic":{"name":"t","id":"` + id + `","partitions":[]}}` + "\n" + `{"record":"end","records":1}`,
		"v4 dup broker":      `{"record":"header","version":4}` + "\n" + `{"record":"broker","broker":{"id":1,"host":"h","port":1}}` + "\n" + `{"record":"broker","broker":{"id":1,"host":"h","port":1}}` + "\n" + `{"record":"end","records":2}`,
		"v4 negative pid":    `{"record":"header","version":4,"nextProducerId":-1}` + "\n" + `{"record":"end","records":0}`,
		"v4 as version 3":    `{"record":"header","version":3}` + "\n" + `{"record":"end","records":0}`,
		"v3 document says 4": `{"version":4}`,
		"v4 garbled record":  `{"record":"header","version":4}` + "\n" + `{"record":`,
	} {
		t.Run(name, func(t *testing.T) {
			h := newFSMHarness(t)
			h.mustApply(createCmd("keep", 9, 1))
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

// FuzzRestore: any bytes given to Restore are refused with an error or
// restore a state that snapshots and restores again to the same bytes;
// never a panic.
func FuzzRestore(f *testing.F) {
	h := newFSMHarness(f)
	h.mustApply(&registerBrokerCmd{Broker: Broker{ID: 1, Host: "h", Port: 9092, Listeners: map[string]string{"PLAINTEXT": "h:9092"}}})
	h.mustApply(createCmd("t1", 1, 3))
	h.mustApply(&putGroupCmd{Group: sampleGroup("g", GroupStateStable)})
	h.mustApply(commitCmd("g", commit("t1", 0, 10, 1)))
	h.mustApply(&putTxnCmd{Txn: sampleTxn(TxnOngoing)})
	h.mustApply(&txnOffsetCommitCmd{Group: "g", ProducerID: 7, Offsets: []OffsetCommit{commit("t1", 1, 10, 1)}})
	h.mustApply(&abortedTxnsCmd{Key: OffsetKey{"t1", 0}, Add: []AbortedTxn{{7, 10, 20}}})
	f.Add(h.snapshotBytes())
	f.Add([]byte(groupsStateDoc()))
	f.Add([]byte(`{"record":"header","version":4}` + "\n" + `{"record":"end","records":0}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g := newFSMHarness(t)
		if err := g.f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
			return
		}
		once := g.snapshotBytes()
		k := newFSMHarness(t)
		if err := k.f.Restore(io.NopCloser(bytes.NewReader(once))); err != nil {
			t.Fatalf("a restored state's own snapshot does not restore: %v\n%s", err, once)
		}
		if twice := k.snapshotBytes(); !bytes.Equal(once, twice) {
			t.Fatalf("snapshot changed across a restore:\n%s\nvs\n%s", once, twice)
		}
	})
}

func TestTopicIDText(t *testing.T) {
	id, err := NewTopicID()
	if err != nil {
		t.Fatal(err)
	}
	if id.IsZero() || id[6]>>4 != 4 {
		t.Fatalf("NewTopicID = %s", id)
	}
	text, _ := id.MarshalText()
	var back TopicID
	if err := back.UnmarshalText(text); err != nil || back != id {
		t.Fatalf("round trip %s -> %s, %v", id, back, err)
	}
	var arr [16]byte = id // converts without a cast
	if TopicID(arr) != id {
		t.Fatal("conversion")
	}
	for _, bad := range []string{"", "xyz", strings.Repeat("g", 36), "0000000000000000000000000000000000000"} {
		if err := back.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted", bad)
		}
	}
}

// TestFenceBroker: a fenced broker stays registered and says so; fencing an
// unregistered one changes nothing; registering again clears the fence.
func TestFenceBroker(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(&registerBrokerCmd{Broker: Broker{ID: 1, Host: "h1", Port: 9092}})
	h.mustApply(&registerBrokerCmd{Broker: Broker{ID: 2, Host: "h2", Port: 9092}})
	h.mustApply(&fenceBrokerCmd{ID: 2, Fenced: true})
	if bs := h.f.brokers(); len(bs) != 2 || bs[0].Fenced || !bs[1].Fenced || bs[1].Host != "h2" {
		t.Fatalf("after fencing broker 2: %+v", bs)
	}
	h.wantErr(&fenceBrokerCmd{ID: 3, Fenced: true}, ErrInvalidCommand)
	h.mustApply(&fenceBrokerCmd{ID: 2, Fenced: false})
	if bs := h.f.brokers(); bs[1].Fenced {
		t.Fatalf("after unfencing broker 2: %+v", bs)
	}
	h.mustApply(&fenceBrokerCmd{ID: 2, Fenced: true})
	h.mustApply(&registerBrokerCmd{Broker: Broker{ID: 2, Host: "h2b", Port: 9093}})
	if bs := h.f.brokers(); bs[1].Fenced || bs[1].Host != "h2b" {
		t.Fatalf("after broker 2 registered again: %+v", bs)
	}
}

// TestFSMAppliedIndex: the FSM publishes the index of each entry it has
// processed, applied or not, and a restore makes it defer to Raft's index
// until the next entry (Store.appliedLocally).
func TestFSMAppliedIndex(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(createCmd("t", 1, 1))
	if got := h.f.appliedIndex.Load(); got != 1 || h.f.restored.Load() {
		t.Fatalf("after entry 1: applied %d, restored %v", got, h.f.restored.Load())
	}
	h.wantErr(&deleteTopicCmd{Name: "nope"}, ErrUnknownTopic) // rejected, still processed
	h.applyRaw([]byte{0x8e})                                  // skipped, still processed
	if got := h.f.appliedIndex.Load(); got != 3 {
		t.Fatalf("after entries 2 and 3: applied %d", got)
	}
	if err := h.f.Restore(io.NopCloser(bytes.NewReader(h.snapshotBytes()))); err != nil {
		t.Fatal(err)
	}
	if !h.f.restored.Load() {
		t.Fatal("restored not set by Restore")
	}
	h.mustApply(createCmd("u", 2, 1))
	if got := h.f.appliedIndex.Load(); got != 4 || h.f.restored.Load() {
		t.Fatalf("after entry 4: applied %d, restored %v", got, h.f.restored.Load())
	}
}

// TestSecuritySnapshotAndCommands: SCRAM credentials and ACLs are set,
// replaced and removed by their commands, survive a snapshot, and bad
// ones are refused without a change.
func TestSecuritySnapshotAndCommands(t *testing.T) {
	h := newFSMHarness(t)
	cred := ScramCredential{User: "alice", Mechanism: "SCRAM-SHA-256", Iterations: 4096, Salt: []byte("salt"), StoredKey: bytes.Repeat([]byte{1}, 32), ServerKey: bytes.Repeat([]byte{2}, 32)}
	cred512 := cred
	cred512.Mechanism, cred512.StoredKey, cred512.ServerKey = "SCRAM-SHA-512", bytes.Repeat([]byte{3}, 64), bytes.Repeat([]byte{4}, 64)
	h.mustApply(&alterScramCmd{Upserts: []ScramCredential{cred, cred512}})
	acl := Acl{ResourceType: "topic", ResourceName: "orders", PatternType: "literal", Principal: "User:alice", Host: "*", Operation: "read", Permission: "allow"}
	deny := acl
	deny.Operation, deny.Permission = "write", "deny"
	h.mustApply(&aclsCmd{Add: []Acl{acl, deny, acl}})
	if got := h.f.state.aclSet; len(got) != 2 {
		t.Fatalf("ACLs = %v", got)
	}
	data := h.snapshotBytes()
	for _, want := range []string{`{"record":"scram","scram":{"user":"alice","mechanism":"SCRAM-SHA-256"`, `{"record":"acl","acl":{"resourceType":"topic","resourceName":"orders"`} {
		if !bytes.Contains(data, []byte(want)) {
			t.Fatalf("snapshot lacks %s:\n%s", want, data)
		}
	}
	g := newFSMHarness(t)
	if err := g.f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.f.state, h.f.state) || !bytes.Equal(g.snapshotBytes(), data) {
		t.Fatalf("restored security state differs")
	}
	h.mustApply(&alterScramCmd{Deletes: []ScramKey{{"alice", "SCRAM-SHA-256"}, {"nobody", "SCRAM-SHA-512"}}})
	h.mustApply(&aclsCmd{Remove: []Acl{deny, {ResourceType: "group", ResourceName: "g", PatternType: "prefixed", Principal: "User:x", Host: "*", Operation: "read", Permission: "allow"}}})
	if _, ok := h.f.state.scram[ScramKey{"alice", "SCRAM-SHA-256"}]; ok || len(h.f.state.scram) != 1 || len(h.f.state.aclSet) != 1 {
		t.Fatalf("after deletes: %v %v", h.f.state.scram, h.f.state.aclSet)
	}
	bad := cred
	bad.ServerKey = nil
	h.wantErr(&alterScramCmd{Upserts: []ScramCredential{bad}}, ErrInvalidCommand)
	h.wantErr(&alterScramCmd{Deletes: []ScramKey{{"alice", "MD5"}}}, ErrInvalidCommand)
	for _, b := range []Acl{{}, func() Acl { a := acl; a.Operation = "fly"; return a }(), func() Acl { a := acl; a.Principal = "alice"; return a }(), func() Acl { a := acl; a.PatternType = "any"; return a }()} {
		h.wantErr(&aclsCmd{Add: []Acl{b}}, ErrInvalidCommand)
	}
}
