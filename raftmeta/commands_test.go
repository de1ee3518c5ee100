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
		&registerBrokerCmd{Broker: Broker{ID: 1, Host: "h", Port: 9092, Rack: "r", Listeners: map[string]string{"PLAINTEXT": "h:9092"}}},
		&createTopicCmd{Name: "t", ID: testID(1), Leaders: []int32{0, 1, -1}, Configs: map[string]string{"retention.ms": "1"}, CreatedMs: 5},
		&deleteTopicCmd{Name: "t"},
		&createPartitionsCmd{Name: "t", Total: 5, Leaders: []int32{1, 2}},
		&setTopicConfigsCmd{Name: "t", Configs: map[string]string{"a": "b"}},
		&setPartitionLeaderCmd{Topic: "t", Partition: 2, Leader: 1},
		&allocateProducerIDsCmd{Count: 1000},
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
	f.Add([]byte("\x06{\"topic\":\"t\",\"partition\":-1,\"leader\":-2}"))
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
		// A topic for the commands that need one.
		seed, _ := encodeCommand(&createTopicCmd{Name: "t", ID: testID(1), Leaders: []int32{0, 1}})
		fsm.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: seed})
		fsm.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: data})
		if _, err := fsm.Snapshot(); err != nil {
			t.Fatalf("snapshot after apply: %v", err)
		}
	})
}
