package storage

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalidConfig marks a topic config that is unknown or has a bad value
// (Kafka's INVALID_CONFIG).
var ErrInvalidConfig = errors.New("invalid topic config")

// ConfigType is the type of a topic config's value (the protocol layer
// maps it to its wire code).
type ConfigType uint8

// The value types of topic configs.
const (
	TypeBoolean ConfigType = iota + 1
	TypeString
	TypeInt
	TypeShort
	TypeLong
	TypeDouble
	TypeList
)

// ConfigDef describes one topic config KOP knows.
type ConfigDef struct {
	Name    string
	Type    ConfigType
	Default string
	Doc     string
	// NoEffect marks configs accepted for compatibility whose meaning is
	// already satisfied by KOP's design (one replica, no compaction
	// machinery to tune): they are stored and described, nothing more.
	NoEffect bool
	// Enum restricts string values.
	Enum []string
	// Min bounds numeric values from below.
	Min int64
	// BrokerKey names the broker setting (conf) that overrides Default.
	BrokerKey string
	// Check validates what Type and Enum cannot say.
	Check func(v string) error
}

// TopicConfigDefs lists every topic config KOP accepts, sorted by name.
var topicConfigDefs = []ConfigDef{
	{Name: "cleanup.policy", Type: TypeList, Default: "delete", Check: checkCleanupPolicy,
		Doc: "delete: old segments are deleted by retention.ms/retention.bytes; compact: the latest record of each key is kept (key-less records refused); both: compacted and deleted."},
	{Name: "compression.type", Type: TypeString, Default: "producer", Enum: []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"},
		Doc: "producer keeps batches as the producer compressed them; a codec has every produced batch stored compressed with it."},
	{Name: "compression.gzip.level", Type: TypeInt, Default: "-1", NoEffect: true, Min: -1, Check: intIn(-1, -1, 1, 9)},
	{Name: "compression.lz4.level", Type: TypeInt, Default: "9", NoEffect: true, Min: 1, Check: intIn(1, 17)},
	{Name: "compression.zstd.level", Type: TypeInt, Default: "3", NoEffect: true, Min: -131072, Check: intIn(-131072, 22)},
	{Name: "delete.retention.ms", Type: TypeLong, Default: "86400000", Min: 0, Doc: "How long a tombstone (null value) of a compacted topic stays readable after the cleaner reached it."},
	{Name: "file.delete.delay.ms", Type: TypeLong, Default: "60000", NoEffect: true, Min: 0},
	{Name: "flush.messages", Type: TypeLong, Default: "1", Min: 1, BrokerKey: "logFlushIntervalMessages", Doc: "fsync after this many records (embedded log)."},
	{Name: "flush.ms", Type: TypeLong, Default: "1000", Min: 0, BrokerKey: "logFlushIntervalMs", Doc: "fsync at least this often (embedded log)."},
	{Name: "follower.replication.throttled.replicas", Type: TypeList, Default: "", NoEffect: true},
	{Name: "index.interval.bytes", Type: TypeInt, Default: "4096", Min: 0},
	{Name: "kop.entry.format", Type: TypeString, Default: "kafka", Enum: []string{"kafka", "pulsar"}, BrokerKey: "entryFormat", Doc: "Pulsar backend: one Pulsar message per batch (kafka) or per record (pulsar)."},
	{Name: "leader.replication.throttled.replicas", Type: TypeList, Default: "", NoEffect: true},
	{Name: "local.retention.bytes", Type: TypeLong, Default: "-2", NoEffect: true, Min: -2},
	{Name: "local.retention.ms", Type: TypeLong, Default: "-2", NoEffect: true, Min: -2},
	{Name: "max.compaction.lag.ms", Type: TypeLong, Default: "9223372036854775807", Min: 1, Doc: "A record of a compacted topic is cleaned at most this long after it was written, whatever the dirty ratio."},
	{Name: "max.message.bytes", Type: TypeInt, Default: "1048588", Min: 0, BrokerKey: "messageMaxBytes", Doc: "Largest record batch accepted."},
	{Name: "message.downconversion.enable", Type: TypeBoolean, Default: "true", NoEffect: true},
	{Name: "message.timestamp.after.max.ms", Type: TypeLong, Default: "9223372036854775807", NoEffect: true, Min: 0},
	{Name: "message.timestamp.before.max.ms", Type: TypeLong, Default: "9223372036854775807", NoEffect: true, Min: 0},
	{Name: "message.timestamp.difference.max.ms", Type: TypeLong, Default: "9223372036854775807", NoEffect: true, Min: 0},
	{Name: "message.format.version", Type: TypeString, Default: "3.0-IV1", NoEffect: true, Check: checkMessageFormatVersion,
		Doc: "Accepted for the tools of Kafka 2.x, which set it; batches are stored in format v2 (magic 2) whatever it says, as Kafka 3 does."},
	{Name: "message.timestamp.type", Type: TypeString, Default: "CreateTime", Enum: []string{"CreateTime", "LogAppendTime"}},
	{Name: "min.cleanable.dirty.ratio", Type: TypeDouble, Default: "0.5", Check: checkRatio,
		Doc: "A compacted partition is cleaned once its uncleaned bytes reach this share of its cleanable bytes."},
	{Name: "min.compaction.lag.ms", Type: TypeLong, Default: "0", Min: 0, Doc: "A record of a compacted topic stays uncompacted at least this long after it was written."},
	{Name: "min.insync.replicas", Type: TypeInt, Default: "1", NoEffect: true, Min: 1},
	{Name: "preallocate", Type: TypeBoolean, Default: "false", NoEffect: true},
	{Name: "remote.log.copy.disable", Type: TypeBoolean, Default: "false", NoEffect: true},
	{Name: "remote.log.delete.on.disable", Type: TypeBoolean, Default: "false", NoEffect: true},
	{Name: "remote.storage.enable", Type: TypeBoolean, Default: "false", NoEffect: true, Check: func(v string) error {
		if v == "true" {
			return fmt.Errorf("tiered storage is not supported (data lives in Pulsar, which offloads by its own policies)")
		}
		return nil
	}},
	{Name: "retention.bytes", Type: TypeLong, Default: "-1", Min: -1, BrokerKey: "logRetentionBytes"},
	{Name: "retention.ms", Type: TypeLong, Default: "604800000", Min: -1, BrokerKey: "logRetentionMs"},
	{Name: "segment.bytes", Type: TypeInt, Default: "1073741824", Min: 14, BrokerKey: "logSegmentBytes"},
	{Name: "segment.index.bytes", Type: TypeInt, Default: "10485760", NoEffect: true, Min: 4},
	{Name: "segment.jitter.ms", Type: TypeLong, Default: "0", NoEffect: true, Min: 0},
	{Name: "segment.ms", Type: TypeLong, Default: "604800000", Min: 1},
	{Name: "unclean.leader.election.enable", Type: TypeBoolean, Default: "false", NoEffect: true},
}

// TopicConfigDefs returns the definitions of every accepted topic config,
// sorted by name.
func TopicConfigDefs() []ConfigDef {
	out := append([]ConfigDef(nil), topicConfigDefs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// LookupTopicConfig returns the definition of one topic config.
func LookupTopicConfig(name string) (ConfigDef, bool) {
	for _, d := range topicConfigDefs {
		if d.Name == name {
			return d, true
		}
	}
	return ConfigDef{}, false
}

// ValidateTopicConfig checks one name/value pair.
func ValidateTopicConfig(name, value string) error {
	d, ok := LookupTopicConfig(name)
	if !ok {
		return fmt.Errorf("%w: unknown topic config %q", ErrInvalidConfig, name)
	}
	return d.validate(value)
}

func (d ConfigDef) validate(v string) error {
	switch d.Type {
	case TypeBoolean:
		if v != "true" && v != "false" {
			return fmt.Errorf("%w: %s must be true or false, got %q", ErrInvalidConfig, d.Name, v)
		}
	case TypeInt, TypeShort, TypeLong:
		bits := 64
		if d.Type == TypeInt {
			bits = 32
		} else if d.Type == TypeShort {
			bits = 16
		}
		n, err := strconv.ParseInt(v, 10, bits)
		if err != nil {
			return fmt.Errorf("%w: %s must be an integer, got %q", ErrInvalidConfig, d.Name, v)
		}
		if n < d.Min {
			return fmt.Errorf("%w: %s must be >= %d, got %d", ErrInvalidConfig, d.Name, d.Min, n)
		}
	case TypeDouble:
		if _, err := strconv.ParseFloat(v, 64); err != nil {
			return fmt.Errorf("%w: %s must be a number, got %q", ErrInvalidConfig, d.Name, v)
		}
	}
	if d.Check != nil {
		if err := d.Check(v); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalidConfig, d.Name, err)
		}
	}
	if len(d.Enum) > 0 {
		for _, e := range d.Enum {
			if v == e {
				return nil
			}
		}
		return fmt.Errorf("%w: %s must be one of %v, got %q", ErrInvalidConfig, d.Name, d.Enum, v)
	}
	return nil
}

// ParseTopicConfig builds the typed config of a topic from its explicit
// configs over the broker's defaults (by Kafka name; missing ones fall back
// to the built-in defaults). Values are validated.
func ParseTopicConfig(explicit, brokerDefaults map[string]string) (TopicConfig, error) {
	get := func(name string) (string, error) {
		d, _ := LookupTopicConfig(name)
		v := d.Default
		if bv, ok := brokerDefaults[name]; ok {
			v = bv
		}
		if ev, ok := explicit[name]; ok {
			v = ev
		}
		return v, d.validate(v)
	}
	num := func(name string) (int64, error) {
		v, err := get(name)
		if err != nil {
			return 0, err
		}
		return strconv.ParseInt(v, 10, 64)
	}
	for name, v := range explicit {
		if err := ValidateTopicConfig(name, v); err != nil {
			return TopicConfig{}, err
		}
	}
	var c TopicConfig
	var errs []error
	set := func(dst *int64, name string) {
		n, err := num(name)
		errs = append(errs, err)
		*dst = n
	}
	var maxMsg, idx int64
	set(&c.RetentionMs, "retention.ms")
	set(&c.RetentionBytes, "retention.bytes")
	set(&c.SegmentBytes, "segment.bytes")
	set(&c.SegmentMs, "segment.ms")
	set(&maxMsg, "max.message.bytes")
	set(&c.FlushMessages, "flush.messages")
	set(&c.FlushMs, "flush.ms")
	set(&idx, "index.interval.bytes")
	c.MaxMessageBytes, c.IndexIntervalBytes = int32(maxMsg), int32(idx)
	ts, err := get("message.timestamp.type")
	errs = append(errs, err)
	c.LogAppendTime = ts == "LogAppendTime"
	c.EntryFormat, err = get("kop.entry.format")
	errs = append(errs, err)
	c.Compression, err = get("compression.type")
	errs = append(errs, err)
	policy, err := get("cleanup.policy")
	errs = append(errs, err)
	compact, del, _ := parseCleanupPolicy(policy)
	c.Compact = compact
	if !del {
		c.RetentionMs, c.RetentionBytes = -1, -1
	}
	set(&c.DeleteRetentionMs, "delete.retention.ms")
	set(&c.MinCompactionLagMs, "min.compaction.lag.ms")
	set(&c.MaxCompactionLagMs, "max.compaction.lag.ms")
	ratio, err := get("min.cleanable.dirty.ratio")
	errs = append(errs, err)
	c.MinCleanableDirtyRatio, _ = strconv.ParseFloat(ratio, 64)
	if err := errors.Join(errs...); err != nil {
		return TopicConfig{}, err
	}
	return c, nil
}

// checkCleanupPolicy accepts Kafka's cleanup.policy lists: delete,
// compact, or both (in either order).
func checkCleanupPolicy(v string) error {
	if _, _, err := parseCleanupPolicy(v); err != nil {
		return err
	}
	return nil
}

func parseCleanupPolicy(v string) (compact, del bool, err error) {
	if strings.TrimSpace(v) == "" {
		return false, false, nil // neither: kept forever, as Kafka 3 reads it
	}
	for _, p := range strings.Split(v, ",") {
		switch strings.TrimSpace(p) {
		case "compact":
			compact = true
		case "delete":
			del = true
		default:
			return false, false, fmt.Errorf("must be a list of [compact, delete], got %q", v)
		}
	}
	return compact, del, nil
}

// intIn accepts integers within one of the ranges lo0..hi0, lo1..hi1, …
func intIn(bounds ...int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("must be an integer, got %q", v)
		}
		for i := 0; i+1 < len(bounds); i += 2 {
			if n >= bounds[i] && n <= bounds[i+1] {
				return nil
			}
		}
		return fmt.Errorf("%d is out of range %v", n, bounds)
	}
}

func checkRatio(v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return fmt.Errorf("must be a number in [0, 1], got %q", v)
	}
	return nil
}

// messageFormatVersion is what Kafka's message.format.version accepts: a
// release (0.8.0 to 3.x, the patch optional) with an optional
// inter-broker protocol step (-IVn).
var messageFormatVersion = regexp.MustCompile(`^(0\.(8|9|10|11)|[123]\.[0-9])(\.[0-9]+)?(-IV[0-9]+)?$`)

func checkMessageFormatVersion(v string) error {
	if !messageFormatVersion.MatchString(v) {
		return fmt.Errorf("%q is not a Kafka version such as 2.0 or 3.0-IV1", v)
	}
	return nil
}
