package conf

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
)

// Mode is how the broker runs.
type Mode int

// The two modes of the kop binary.
const (
	Standalone  Mode = iota // kop standalone: one Raft voter, embedded log unless brokerServiceUrl
	KafkaBroker             // kop kafka-broker: a member of a Raft cluster, Pulsar storage
)

func (m Mode) String() string {
	if m == KafkaBroker {
		return "kafka-broker"
	}
	return "standalone"
}

// Listener is one Kafka listener, `NAME://host:port`.
type Listener struct {
	Name string
	Host string
	Port int
}

// Addr is host:port.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

func (l Listener) String() string { return l.Name + "://" + l.Addr() }

// Peer is one Raft voter, `id@host:port`.
type Peer struct {
	ID      int32
	Address string
}

// Config is the validated configuration of one broker.
type Config struct {
	Mode Mode

	KafkaListeners           []Listener
	KafkaAdvertisedListeners []Listener // same names and order as KafkaListeners
	DataDir                  string

	RaftNodeID            int32
	RaftBindAddress       string
	RaftAdvertisedAddress string
	RaftPeers             []Peer

	HTTPAddress string

	AllowAutoTopicCreation bool
	DefaultNumPartitions   int32
	LogLevel               slog.Level

	BrokerServiceURL string
	WebServiceURL    string
	KafkaTenant      string
	KafkaNamespace   string
	EntryFormat      string

	SocketRequestMaxBytes       int32
	ConnectionsMaxIdleMs        int64
	MessageMaxBytes             int32
	LogSegmentBytes             int64
	LogRetentionMs              int64
	LogRetentionBytes           int64
	LogFlushIntervalMessages    int64
	LogFlushIntervalMs          int64
	LogRetentionCheckIntervalMs int64
	RequestTimeoutMs            int64
	ShutdownTimeoutMs           int64

	GroupInitialRebalanceDelayMs int32
	GroupMinSessionTimeoutMs     int32
	GroupMaxSessionTimeoutMs     int32
	GroupMaxSize                 int32
	OffsetsRetentionMinutes      int64

	values  map[string]string
	sources map[string]Source
}

// Source says where a setting's value came from.
type Source string

// Sources, in precedence order.
const (
	SourceDefault Source = "default"
	SourceFile    Source = "file"
	SourceEnv     Source = "env"
	SourceFlag    Source = "flag"
)

// Entry is one key's effective setting.
type Entry struct {
	Name      string
	Value     string
	Default   string
	Source    Source
	Sensitive bool
	Doc       string
}

// Entries lists every known key with its effective value and source, in
// definition order.
func (c *Config) Entries() []Entry {
	out := make([]Entry, 0, len(keys))
	for _, k := range keys {
		out = append(out, Entry{
			Name: k.name, Value: c.values[k.name], Default: k.defaultFor(c.Mode),
			Source: c.sources[k.name], Sensitive: k.sensitive, Doc: k.doc,
		})
	}
	return out
}

// Source returns where key's value came from.
func (c *Config) Source(key string) Source { return c.sources[key] }

// KeyDoc is one key as `kop help MODE` prints it.
type KeyDoc struct {
	Name, Default, Doc string
}

// Keys documents every key with its default in mode.
func Keys(mode Mode) []KeyDoc {
	out := make([]KeyDoc, 0, len(keys))
	for _, k := range keys {
		out = append(out, KeyDoc{Name: k.name, Default: k.defaultFor(mode), Doc: k.doc})
	}
	return out
}

// keyError names the key and why its value is refused.
func keyError(key, value, why string) error {
	return fmt.Errorf("config key %q: %s, got %q", key, why, value)
}

func parseListeners(key, v string) ([]Listener, error) {
	var out []Listener
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, addr, ok := strings.Cut(part, "://")
		if !ok || name == "" {
			return nil, keyError(key, v, "each listener must be NAME://host:port")
		}
		name = strings.ToUpper(name)
		if name != "PLAINTEXT" {
			return nil, keyError(key, v, fmt.Sprintf("listener %s: only PLAINTEXT is supported", name))
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, keyError(key, v, fmt.Sprintf("listener %s: %v", name, err))
		}
		p, err := strconv.Atoi(port)
		if err != nil || p < 0 || p > 65535 {
			return nil, keyError(key, v, fmt.Sprintf("listener %s: port must be 0..65535", name))
		}
		for _, l := range out {
			if l.Name == name {
				return nil, keyError(key, v, fmt.Sprintf("listener name %s appears twice", name))
			}
		}
		out = append(out, Listener{Name: name, Host: host, Port: p})
	}
	if len(out) == 0 {
		return nil, keyError(key, v, "at least one listener is required")
	}
	return out, nil
}

func parsePeers(key, v string) ([]Peer, error) {
	var out []Peer
	seen := map[int32]bool{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "@")
		if !ok {
			return nil, keyError(key, v, "each peer must be id@host:port")
		}
		n, err := strconv.ParseInt(id, 10, 32)
		if err != nil || n < 0 {
			return nil, keyError(key, v, fmt.Sprintf("peer id %q must be a non-negative integer", id))
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, keyError(key, v, fmt.Sprintf("peer %s: %v", id, err))
		}
		if seen[int32(n)] {
			return nil, keyError(key, v, fmt.Sprintf("peer id %d appears twice", n))
		}
		seen[int32(n)] = true
		out = append(out, Peer{ID: int32(n), Address: addr})
	}
	return out, nil
}
