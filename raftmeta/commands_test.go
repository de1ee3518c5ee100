package raftmeta

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

func sampleCommands() []command {
	return []command{
		&registerBrokerCmd{Broker: Broker{ID: 1, Host: "h", Port: 9092, Rack: "r", Listeners: map[string]string{"PLAINTEXT": "h:9092"}, Version: "1.2.3"}},
		&createTopicCmd{Name: "t", ID: testID(1), Leaders: []int32{0, 1, -1}, Configs: map[string]string{"retention.ms": "1"}, CreatedMs: 5},
		&deleteTopicCmd{Name: "t"},
		&createPartitionsCmd{Name: "t", Total: 5, Leaders: []int32{1, 2}},
		&setTopicConfigsCmd{Name: "t", Configs: map[string]string{"a": "b"}},
		&setPartitionLeaderCmd{Topic: "t", Partition: 2, Leader: 1},
		&allocateProducerIDsCmd{Count: 1000},
		&putGroupCmd{Group: sampleGroup("g", GroupStateStable)},
		&deleteGroupCmd{ID: "g"},
		&commitOffsetsCmd{Groups: []groupCommit{
			{Group: "g", Offsets: []OffsetCommit{commit("t", 0, 10, 1000), {OffsetKey{"t", 1}, CommittedOffset{Offset: 7, LeaderEpoch: 3, Metadata: "m", CommitTimeMs: 1001}}}},
			{Group: "simple", Offsets: []OffsetCommit{commit("t", 1, 0, 1002)}},
		}},
		&deleteOffsetsCmd{Group: "g", Keys: []OffsetKey{{"t", 0}, {"t", 1}}},
		&expireOffsetsCmd{NowMs: 1_700_000_000_000, RetentionMs: 7 * 24 * 3600 * 1000},
		&fenceBrokerCmd{ID: 1, Fenced: true},
		&syncCmd{},
	}
}

func TestCommandRoundTrip(t *testing.T) {
	for _, c := range sampleCommands() {
		data, err := encodeCommand(c)
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != byte(c.commandType()) {
			t.Fatalf("%s: type byte %d", c.commandType(), data[0])
		}
		// Only Sync may be skipped by a node that does not know it;
		// every other type must halt such a node, and no encoding ever
		// changes.
		if want := c.commandType() == cmdSync; c.commandType().ignorable() != want || (data[0]&0x80 != 0) != want {
			t.Fatalf("%s: type byte 0x%02x: ignorable bit %v, want %v", c.commandType(), data[0], data[0]&0x80 != 0, want)
		}
		back, err := decodeCommand(data)
		if err != nil {
			t.Fatalf("%s: %v", c.commandType(), err)
		}
		if !reflect.DeepEqual(back, c) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", c.commandType(), back, c)
		}
		if err := c.validate(); err != nil {
			t.Fatalf("%s: sample invalid: %v", c.commandType(), err)
		}
	}
}

func TestDecodeCommandErrors(t *testing.T) {
	for _, data := range [][]byte{nil, {0}, {99}, {byte(cmdDeleteTopic)}, {byte(cmdDeleteTopic), '['}} {
		if _, err := decodeCommand(data); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("decodeCommand(%q) error = %v, want ErrInvalidCommand", data, err)
		}
	}
	// Unknown types say whether they may be skipped: the high bit.
	for _, tc := range []struct {
		data      []byte
		ignorable bool
	}{
		{[]byte{0}, false},
		{[]byte{99, '{', '}'}, false},
		{[]byte{0x7f}, false},
		{[]byte{0x80}, true},
		{[]byte{0x8f, '{', '"', 'x', '"', ':', '1', '}'}, true},
		{[]byte{0xff, 'g', 'a', 'r', 'b', 'a', 'g', 'e'}, true},
	} {
		_, err := decodeCommand(tc.data)
		unknown, ok := errors.AsType[*unknownCommandError](err)
		if !ok || !errors.Is(err, ErrInvalidCommand) || uint8(unknown.Type) != tc.data[0] || unknown.Type.ignorable() != tc.ignorable {
			t.Errorf("decodeCommand(%q) error = %#v, want an unknown type %d, ignorable %v, wrapping ErrInvalidCommand", tc.data, err, tc.data[0], tc.ignorable)
		}
	}
	// A known type with a bad body is garbled, not unknown.
	for _, data := range [][]byte{{byte(cmdDeleteTopic)}, {byte(cmdDeleteTopic), '['}} {
		if _, err := decodeCommand(data); errors.As(err, new(*unknownCommandError)) {
			t.Errorf("decodeCommand(%q) = %v, want a decoding error, not an unknown type", data, err)
		}
	}
	// Unknown fields are ignored so that newer nodes may add fields.
	c, err := decodeCommand([]byte(`` + "\x03" + `{"name":"t","addedLater":true}`))
	if err != nil || c.(*deleteTopicCmd).Name != "t" {
		t.Fatalf("decode with unknown field: %+v, %v", c, err)
	}
}

// FuzzDecodeCommand: decoding arbitrary bytes never panics; whatever
// decodes re-encodes to something that decodes to the same command; and
// applying the bytes to an FSM never panics.
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range sampleCommands() {
		data, err := encodeCommand(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte{})
	f.Add([]byte{2, '{', '}'})
	f.Add([]byte{0x7e, '{', '}'})
	f.Add([]byte{0x8e, '{', '}'})
	f.Add([]byte("\x06{\"topic\":\"t\",\"partition\":-1,\"leader\":-2}"))
	f.Add([]byte(`` + "\x08" + `{"group":{"id":"g","state":"Stable","members":[{"memberId":"m"},{"memberId":"m"}]}}`))
	f.Add([]byte(`` + "\x0a" + `{"groups":[{"group":"g","offsets":[{"topic":"t","partition":0,"offset":-2}]}]}`))
	f.Add([]byte(`` + "\x0a" + `{"groups":[{"group":"","offsets":[]}]}`))
	f.Add([]byte(`` + "\x0b" + `{"group":"g","keys":[{"topic":"t","partition":-1}]}`))
	f.Add([]byte(`` + "\x0c" + `{"nowMs":-1,"retentionMs":9223372036854775807}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeCommand(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidCommand) {
				t.Fatalf("error %v does not wrap ErrInvalidCommand", err)
			}
		} else {
			_ = c.validate()
			again, err := encodeCommand(c)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			back, err := decodeCommand(again)
			if err != nil {
				t.Fatalf("decode of re-encoded %q: %v", again, err)
			}
			again2, _ := encodeCommand(back)
			if !bytes.Equal(again, again2) {
				t.Fatalf("encoding not stable: %q vs %q", again, again2)
			}
		}
		fsm := newFSM(testLogger(t))
		// A topic, a group and offsets for the commands that need them.
		for i, c := range []command{
			&createTopicCmd{Name: "t", ID: testID(1), Leaders: []int32{0, 1}},
			&putGroupCmd{Group: sampleGroup("g", GroupStateEmpty)},
			&commitOffsetsCmd{Groups: []groupCommit{{Group: "g", Offsets: []OffsetCommit{commit("t", 0, 5, 1)}}}},
		} {
			seed, _ := encodeCommand(c)
			fsm.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: seed})
		}
		before, err := fsm.Snapshot()
		if err != nil {
			t.Fatalf("snapshot before apply: %v", err)
		}
		resp := fsm.Apply(&raft.Log{Index: 4, Type: raft.LogCommand, Data: data})
		// Only a type this node does not know (and that is not
		// ignorable) halts the FSM, and then nothing changed.
		_, decodeErr := decodeCommand(data)
		unknown, isUnknown := errors.AsType[*unknownCommandError](decodeErr)
		wantHalt := isUnknown && !unknown.Type.ignorable()
		if h := fsm.halt.haltErr(); (h != nil) != wantHalt {
			t.Fatalf("apply %q: halted = %v, want %v (response %v)", data, h, wantHalt, resp)
		}
		if wantHalt {
			if err, _ := resp.(error); !errors.Is(err, ErrHalted) {
				t.Fatalf("apply %q: response %v, want ErrHalted", data, resp)
			}
			if _, err := fsm.Snapshot(); !errors.Is(err, ErrHalted) {
				t.Fatalf("snapshot of a halted FSM: %v, want ErrHalted", err)
			}
			fsm.halt = newHaltState() // look at the state underneath
			after, _ := fsm.Snapshot()
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("apply %q halted the FSM and changed the state", data)
			}
		}
		if isUnknown && unknown.Type.ignorable() && resp != nil {
			t.Fatalf("apply %q: ignorable unknown type answered %v, want nil", data, resp)
		}
		if _, err := fsm.Snapshot(); err != nil {
			t.Fatalf("snapshot after apply: %v", err)
		}
	})
}
