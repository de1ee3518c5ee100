package raftmeta

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/kop-project/kop/scope"
)

// NoLeader is the partition leader value meaning "no broker leads it".
const NoLeader int32 = -1

// Broker is a registered KOP broker and its advertised endpoints.
type Broker struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
	Rack string `json:"rack,omitempty"`
	// Listeners maps a listener name to its advertised host:port.
	Listeners map[string]string `json:"listeners,omitempty"`
	// Fenced: the Raft leader lost contact with the broker and moved its
	// partitions away; clients are not sent to it. Registering again (a
	// restart) or being reached again clears it.
	Fenced bool `json:"fenced,omitempty"`
	// Version is the KOP version the broker runs, as it reported it when
	// it registered (empty from brokers older than the field). It is
	// informational: it shows a rolling upgrade's progress, and a node
	// that halts on a command type it does not know (halt.go) logs the
	// versions to upgrade to.
	Version string `json:"version,omitempty"`
}

func (b Broker) clone() Broker {
	b.Listeners = cloneMap(b.Listeners)
	return b
}

// TopicID is a Kafka topic UUID. It converts to and from [16]byte (the type
// kmsg uses) without a cast, and encodes as the canonical UUID text.
type TopicID [16]byte

// NewTopicID returns a random (version 4) UUID that is not the zero UUID.
func NewTopicID() (TopicID, error) {
	var id TopicID
	if _, err := rand.Read(id[:]); err != nil {
		return TopicID{}, fmt.Errorf("raftmeta: generating topic id: %w", err)
	}
	id[6] = id[6]&0x0f | 0x40 // version 4
	id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
	return id, nil
}

// IsZero reports whether id is the all-zero UUID (Kafka's "no id").
func (id TopicID) IsZero() bool { return id == TopicID{} }

// String returns the canonical 8-4-4-4-12 hex form.
func (id TopicID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], id[10:16])
	return string(b[:])
}

// MarshalText implements encoding.TextMarshaler.
func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts only the
// canonical 36-character form.
func (id *TopicID) UnmarshalText(text []byte) error {
	if len(text) != 36 || text[8] != '-' || text[13] != '-' || text[18] != '-' || text[23] != '-' {
		return fmt.Errorf("raftmeta: malformed topic id %q", text)
	}
	var out TopicID
	for _, r := range [][4]int{{0, 8, 0, 4}, {9, 13, 4, 6}, {14, 18, 6, 8}, {19, 23, 8, 10}, {24, 36, 10, 16}} {
		if _, err := hex.Decode(out[r[2]:r[3]], text[r[0]:r[1]]); err != nil {
			return fmt.Errorf("raftmeta: malformed topic id %q: %w", text, err)
		}
	}
	*id = out
	return nil
}

// Topic is a Kafka topic as recorded in Raft.
type Topic struct {
	Name string  `json:"name"`
	ID   TopicID `json:"id"`
	// Partitions is indexed by partition number: Partitions[i].Index == i.
	Partitions []Partition `json:"partitions"`
	// Configs holds only the explicitly set topic configs; defaults are
	// applied by the reader (storage.ParseTopicConfig).
	Configs   map[string]string `json:"configs,omitempty"`
	CreatedMs int64             `json:"createdMs"`
}

func (t Topic) clone() Topic {
	t.Partitions = slices.Clone(t.Partitions)
	t.Configs = cloneMap(t.Configs)
	return t
}

// Partition is one partition's leadership record.
type Partition struct {
	Index  int32 `json:"index"`
	Leader int32 `json:"leader"` // broker id, or NoLeader
	// LeaderEpoch starts at 0 and grows by one on every leader change.
	LeaderEpoch int32 `json:"leaderEpoch"`
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}

// MaxTopicNameLength is Kafka's limit on topic names.
const MaxTopicNameLength = scope.MaxTopicNameLength

// ValidateTopicName checks a stored topic name: Kafka's rules (1..249
// characters from [a-zA-Z0-9._-], not "." or ".."), optionally qualified
// by a tenant's namespace ("tenant/namespace/T", see package scope). The
// error wraps ErrInvalidTopic.
func ValidateTopicName(name string) error {
	if err := scope.ValidateTopic(name); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidTopic, strings.TrimPrefix(err.Error(), scope.ErrInvalidName.Error()+": "))
	}
	return nil
}
