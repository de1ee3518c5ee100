package conf

import (
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// key defines one configuration key: its documentation, its default per
// mode, and how a value is checked and stored in Config.
type key struct {
	name       string
	doc        string
	standalone string // default in standalone mode
	broker     string // default in kafka-broker mode; "" with sameDefault means the same
	same       bool   // broker default equals standalone default
	sensitive  bool
	set        func(c *Config, k, v string) error
}

func (k key) defaultFor(m Mode) string {
	if m == KafkaBroker && !k.same {
		return k.broker
	}
	return k.standalone
}

// both is a key whose default does not depend on the mode.
func both(name, def, doc string, set func(c *Config, k, v string) error) key {
	return key{name: name, doc: doc, standalone: def, same: true, set: set}
}

func setInt64(dst func(*Config) *int64, lo, hi int64) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return keyError(k, v, "must be an integer")
		}
		if n < lo || n > hi {
			return keyError(k, v, fmt.Sprintf("must be between %d and %d", lo, hi))
		}
		*dst(c) = n
		return nil
	}
}

func setInt32(dst func(*Config) *int32, lo, hi int32) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		var n int64
		if err := setInt64(func(*Config) *int64 { return &n }, int64(lo), int64(hi))(c, k, v); err != nil {
			return err
		}
		*dst(c) = int32(n)
		return nil
	}
}

func setBool(dst func(*Config) *bool) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return keyError(k, v, "must be true or false")
		}
		*dst(c) = b
		return nil
	}
}

func setString(dst func(*Config) *string) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		*dst(c) = strings.TrimSpace(v)
		return nil
	}
}

func setNonEmpty(dst func(*Config) *string) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		if strings.TrimSpace(v) == "" {
			return keyError(k, v, "must not be empty")
		}
		*dst(c) = strings.TrimSpace(v)
		return nil
	}
}

func setEnum(dst func(*Config) *string, allowed ...string) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		v = strings.TrimSpace(v)
		for _, a := range allowed {
			if v == a {
				*dst(c) = v
				return nil
			}
		}
		return keyError(k, v, "must be one of "+strings.Join(allowed, ", "))
	}
}

func setURL(dst func(*Config) *string, schemes ...string) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		v = strings.TrimSpace(v)
		if v == "" {
			*dst(c) = ""
			return nil
		}
		for _, part := range strings.Split(v, ",") {
			u, err := url.Parse(strings.TrimSpace(part))
			ok := err == nil && u.Host != ""
			if ok {
				ok = false
				for _, s := range schemes {
					ok = ok || u.Scheme == s
				}
			}
			if !ok {
				return keyError(k, v, "must be a URL with scheme "+strings.Join(schemes, " or ")+" and a host")
			}
		}
		*dst(c) = v
		return nil
	}
}

func setHostPort(dst func(*Config) *string, allowEmpty bool) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		v = strings.TrimSpace(v)
		if v == "" && allowEmpty {
			*dst(c) = ""
			return nil
		}
		if _, _, err := splitHostPort(v); err != nil {
			return keyError(k, v, "must be host:port")
		}
		*dst(c) = v
		return nil
	}
}

const maxInt32 = math.MaxInt32

// keys are every configuration key KOP reads, in the order the files and
// `kop help` show them.
var keys = []key{
	{name: "kafkaListeners", doc: "Kafka listeners to bind, comma-separated NAME://host:port (PLAINTEXT).",
		standalone: "PLAINTEXT://127.0.0.1:9092", broker: "PLAINTEXT://0.0.0.0:9092",
		set: func(c *Config, k, v string) (err error) { c.KafkaListeners, err = parseListeners(k, v); return }},
	{name: "kafkaAdvertisedListeners", doc: "Addresses given to clients, same names as kafkaListeners; empty: the listeners, with 0.0.0.0 replaced by the host name.",
		same: true,
		set: func(c *Config, k, v string) (err error) {
			c.KafkaAdvertisedListeners = nil
			if strings.TrimSpace(v) != "" {
				c.KafkaAdvertisedListeners, err = parseListeners(k, v)
			}
			return
		}},
	both("kafkaServicePort", "", "Legacy shorthand: the port of the PLAINTEXT listener when kafkaListeners is not set.",
		func(c *Config, k, v string) error {
			if strings.TrimSpace(v) == "" {
				return nil
			}
			p, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || p < 0 || p > 65535 {
				return keyError(k, v, "must be a port number 0..65535")
			}
			return nil
		}),
	{name: "dataDir", doc: "Directory of the Raft metadata and the embedded log.", standalone: "data/standalone", broker: "data/kop",
		set: setNonEmpty(func(c *Config) *string { return &c.DataDir })},
	both("raftNodeId", "0", "This broker's id: its Raft server id and its Kafka broker id.",
		setInt32(func(c *Config) *int32 { return &c.RaftNodeID }, 0, maxInt32)),
	{name: "raftBindAddress", doc: "host:port of the Raft transport.", standalone: "127.0.0.1:9192", broker: "0.0.0.0:9192",
		set: setHostPort(func(c *Config) *string { return &c.RaftBindAddress }, false)},
	both("raftAdvertisedAddress", "", "host:port other brokers reach the Raft transport on; empty: raftBindAddress, with 0.0.0.0 replaced by the host name.",
		setHostPort(func(c *Config) *string { return &c.RaftAdvertisedAddress }, true)),
	both("raftPeers", "", "Raft voters of a cluster, comma-separated id@host:port, this broker included (kafka-broker only).",
		func(c *Config, k, v string) (err error) { c.RaftPeers, err = parsePeers(k, v); return }),
	both("httpAddress", "127.0.0.1:9080", "host:port of the admin endpoint (/metrics, /healthz, /readyz); empty disables it.",
		setHostPort(func(c *Config) *string { return &c.HTTPAddress }, true)),
	both("allowAutoTopicCreation", "true", "Create a topic when a client asks for its metadata.",
		setBool(func(c *Config) *bool { return &c.AllowAutoTopicCreation })),
	both("defaultNumPartitions", "1", "Partitions of an auto-created topic.",
		setInt32(func(c *Config) *int32 { return &c.DefaultNumPartitions }, 1, 100_000)),
	both("logLevel", "info", "Log level: debug, info, warn or error.",
		func(c *Config, k, v string) error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(strings.TrimSpace(v))); err != nil {
				return keyError(k, v, "must be debug, info, warn or error")
			}
			c.LogLevel = l
			return nil
		}),
	both("brokerServiceUrl", "", "Pulsar broker URL (pulsar://host:6650); set: data lives in Pulsar, empty: the embedded log.",
		setURL(func(c *Config) *string { return &c.BrokerServiceURL }, "pulsar", "pulsar+ssl")),
	both("webServiceUrl", "", "Pulsar admin URL (http://host:8080), for topic administration.",
		setURL(func(c *Config) *string { return &c.WebServiceURL }, "http", "https")),
	both("kafkaTenant", "public", "Pulsar tenant of Kafka topics.", setNonEmpty(func(c *Config) *string { return &c.KafkaTenant })),
	both("kafkaNamespace", "default", "Pulsar namespace of Kafka topics.", setNonEmpty(func(c *Config) *string { return &c.KafkaNamespace })),
	both("entryFormat", "kafka", "How Kafka batches are stored in Pulsar: kafka (one message per batch) or pulsar (one per record).",
		setEnum(func(c *Config) *string { return &c.EntryFormat }, "kafka", "pulsar")),
	both("socketRequestMaxBytes", "104857600", "Largest Kafka request accepted; larger frames close the connection.",
		setInt32(func(c *Config) *int32 { return &c.SocketRequestMaxBytes }, 1024, maxInt32)),
	both("connectionsMaxIdleMs", "600000", "Close client connections idle this long.",
		setInt64(func(c *Config) *int64 { return &c.ConnectionsMaxIdleMs }, 1000, math.MaxInt64)),
	both("messageMaxBytes", "1048588", "Default max.message.bytes of topics: the largest record batch accepted.",
		setInt32(func(c *Config) *int32 { return &c.MessageMaxBytes }, 0, maxInt32)),
	both("logSegmentBytes", "1073741824", "Default segment.bytes of the embedded log.",
		setInt64(func(c *Config) *int64 { return &c.LogSegmentBytes }, 1024, maxInt32)),
	both("logRetentionMs", "604800000", "Default retention.ms of topics; -1 keeps data forever.",
		setInt64(func(c *Config) *int64 { return &c.LogRetentionMs }, -1, math.MaxInt64)),
	both("logRetentionBytes", "-1", "Default retention.bytes per partition; -1 is unlimited.",
		setInt64(func(c *Config) *int64 { return &c.LogRetentionBytes }, -1, math.MaxInt64)),
	both("logFlushIntervalMessages", "1", "Default flush.messages of the embedded log: fsync after this many records (1: before every acknowledgement).",
		setInt64(func(c *Config) *int64 { return &c.LogFlushIntervalMessages }, 1, math.MaxInt64)),
	both("logFlushIntervalMs", "1000", "Default flush.ms of the embedded log: fsync at least this often.",
		setInt64(func(c *Config) *int64 { return &c.LogFlushIntervalMs }, 0, math.MaxInt64)),
	both("logRetentionCheckIntervalMs", "300000", "How often the embedded log applies retention.",
		setInt64(func(c *Config) *int64 { return &c.LogRetentionCheckIntervalMs }, 10, math.MaxInt64)),
	both("requestTimeoutMs", "30000", "Upper bound on metadata (Raft) writes made for a request.",
		setInt64(func(c *Config) *int64 { return &c.RequestTimeoutMs }, 100, math.MaxInt64)),
	both("shutdownTimeoutMs", "30000", "How long a graceful shutdown waits for requests in flight.",
		setInt64(func(c *Config) *int64 { return &c.ShutdownTimeoutMs }, 0, math.MaxInt64)),
	both("groupInitialRebalanceDelayMs", "3000", "Wait for more members before the first rebalance of an empty group.",
		setInt32(func(c *Config) *int32 { return &c.GroupInitialRebalanceDelayMs }, 0, maxInt32)),
	both("groupMinSessionTimeoutMs", "6000", "Smallest session timeout a group member may ask for.",
		setInt32(func(c *Config) *int32 { return &c.GroupMinSessionTimeoutMs }, 0, maxInt32)),
	both("groupMaxSessionTimeoutMs", "1800000", "Largest session timeout a group member may ask for.",
		setInt32(func(c *Config) *int32 { return &c.GroupMaxSessionTimeoutMs }, 0, maxInt32)),
	both("groupMaxSize", "2147483647", "Most members in one consumer group.",
		setInt32(func(c *Config) *int32 { return &c.GroupMaxSize }, 1, maxInt32)),
	both("offsetsRetentionMinutes", "10080", "Committed offsets of an empty group are kept this long.",
		setInt64(func(c *Config) *int64 { return &c.OffsetsRetentionMinutes }, 1, math.MaxInt64/60000)),
}

func lookupKey(name string) (key, bool) {
	for _, k := range keys {
		if k.name == name {
			return k, true
		}
	}
	return key{}, false
}
