// Package compaction holds Kafka's log compaction rules, shared by every
// backend's cleaner (storage/disklog, pulsarbridge): the offset map of a
// cleaning pass (the latest offset of each key in the dirty part, bounded
// like Kafka's log.cleaner.dedupe.buffer.size) and what a cleaned batch
// keeps.
//
// It owns no files, no topics and no schedule: a backend decides which
// part of its log is dirty and cleanable (never the part still written,
// nor what is younger than min.compaction.lag.ms), reads the batches,
// stores what Retain returns with the offsets unchanged, and records how
// far it cleaned. It must not know how or where batches are stored.
package compaction
