// Package disklog is KOP's embedded partition log: a zero-dependency,
// Kafka-style on-disk log used by `kop standalone` when no Pulsar is
// configured. It implements storage.Backend and storage.PartitionLog and
// passes the storage/storagetest conformance suite.
//
// It owns the files under its root directory and nothing else: no
// metadata, no Kafka protocol, no knowledge of leadership beyond the
// leader epoch it is handed on Append. It must not decode records (batches
// are stored as the client sent them, with baseOffset and
// partitionLeaderEpoch rewritten, plus maxTimestamp and the timestamp-type
// bit for LogAppendTime topics).
//
// # Layout
//
//	<root>/.lock                              flock held while a Backend is open
//	<root>/<topic>-<partition>/               one directory per partition
//	    %020d.log                             segment: concatenated v2 batches, named by base offset
//	    %020d.index                           sparse offset index: (offset-base uint32, position uint32) BE
//	    %020d.timeindex                       time index: (maxTimestamp int64, offset-base uint32) BE, increasing
//	    leader-epoch-checkpoint               "0\n<n>\n<epoch> <startOffset>\n..." (Kafka's format)
//	    log-start-offset                      "0\n1\n<offset>\n"
//	    clean-shutdown                        present only while the log is closed cleanly
//
// The directory name splits unambiguously on its last '-' because Kafka
// topic names are [a-zA-Z0-9._-] and partition numbers have no '-'.
// DeleteTopic renames a directory to "<name>.<id>-delete" before removing
// it; New finishes such removals after a crash.
//
// Index entries follow Kafka: an offset entry for a batch once more than
// index.interval.bytes were written since the previous one, with a time
// entry when the largest timestamp grew (plus a final one when the segment
// is sealed). Indexes live in memory (8 bytes per interval, about 0.2% of
// the data) and are written to their files when a segment is rolled or the
// log closed; a missing or inconsistent index file is rebuilt by scanning
// its segment.
//
// # Guarantees
//
//   - Offsets are dense: a batch takes lastOffsetDelta+1 offsets from the log
//     end offset; after recovery they continue from the last valid batch.
//   - Durability follows the topic's flush policy: flush.messages=1 fsyncs
//     before Append returns (and before the data is visible to readers);
//     flush.messages=N fsyncs once N offsets are unflushed; flush.ms fsyncs
//     periodically in the background. A sealed segment is always fsynced,
//     with its indexes, before the next one is created, so after a crash
//     only the last segment can hold a torn tail.
//   - Recovery: without the clean-shutdown marker the last segment is
//     scanned batch by batch (lengths, CRC-32C, dense offsets); the file is
//     truncated at the first invalid batch, its indexes rebuilt, and leader
//     epochs of the surviving batches restored. Epoch entries beyond the
//     recovered end are dropped. The marker is removed (durably) as soon as
//     a log is opened.
//   - An Append that fails midway is undone (file truncated, new segments
//     removed); when that is impossible, or an fsync fails, the log refuses
//     further appends until reopened.
//   - Append with a leader epoch lower than the latest one recorded fails
//     with storage.ErrFenced.
//   - Reads take a snapshot of published sizes, so they never see a partial
//     batch, and hold a reference on the segment so that retention or Close
//     never closes a file under them. A read is an index lookup (binary
//     search over segments, then over the sparse index), a short buffered
//     scan of batch headers, and one ReadAt of whole batches.
//   - Retention runs every RetentionCheckInterval and deletes whole
//     non-active segments from the oldest: those whose largest timestamp is
//     older than retention.ms, then while the partition exceeds
//     retention.bytes. DeleteRecords checkpoints the new log start offset
//     before using it and deletes the segments wholly below it.
//
// # TopicConfig
//
// Zero SegmentBytes, IndexIntervalBytes and SegmentMs mean Kafka's
// defaults (1 GiB, 4096, 7 days); SegmentBytes is capped at 2^31-1.
// FlushMessages <= 0 and FlushMs <= 0 disable that flush trigger.
// RetentionMs and RetentionBytes are literal: negative keeps forever, 0
// deletes every sealed segment. MaxMessageBytes > 0 refuses larger batches
// with storage.ErrMessageTooLarge.
package disklog
