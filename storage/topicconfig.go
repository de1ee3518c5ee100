package storage

// TopicConfig is the parsed, typed form of a topic's Kafka configs, the part
// a partition log acts on. Kafka names in comments; the values come from
// ParseTopicConfig (topicconfigs.go) which applies defaults and validates.
type TopicConfig struct {
	RetentionMs        int64  // retention.ms; -1 = keep forever
	RetentionBytes     int64  // retention.bytes per partition; -1 = unlimited
	SegmentBytes       int64  // segment.bytes
	SegmentMs          int64  // segment.ms: roll a segment older than this
	MaxMessageBytes    int32  // max.message.bytes: the largest batch accepted
	FlushMessages      int64  // flush.messages: fsync after this many records; 1 = every append
	FlushMs            int64  // flush.ms: fsync at least this often
	IndexIntervalBytes int32  // index.interval.bytes: sparse index granularity
	LogAppendTime      bool   // message.timestamp.type=LogAppendTime
	EntryFormat        string // kop.entry.format: "kafka" or "pulsar" (Pulsar backend only)
	Compression        string // compression.type: "producer" (as produced) or the codec batches are stored in

	// Compact: cleanup.policy holds compact, so the latest record of each
	// key is kept and key-less records are refused. When it does not hold
	// delete, ParseTopicConfig sets RetentionMs and RetentionBytes to -1:
	// retention deletes nothing (Kafka ignores them then too).
	Compact                bool
	DeleteRetentionMs      int64   // delete.retention.ms: how long a tombstone stays after cleaning reached it
	MinCompactionLagMs     int64   // min.compaction.lag.ms: records younger than this are not compacted
	MaxCompactionLagMs     int64   // max.compaction.lag.ms: records older than this are compacted whatever the dirty ratio
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio: dirty share of the cleanable bytes that starts a clean
}
