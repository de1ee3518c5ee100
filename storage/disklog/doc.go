// Package disklog is KOP's embedded partition log: a zero-dependency,
// Kafka-style on-disk log used by `kop standalone` when no Pulsar is
// configured. It implements storage.Backend and storage.PartitionLog and
// passes the storage/storagetest conformance suite.
//
// It owns the files under its root directory and nothing else: no
// metadata, no Kafka protocol, no knowledge of leadership beyond the
// leader epoch it is handed on Append. Appends and reads must not decode
// records (batches are stored as the client sent them, with baseOffset and
// partitionLeaderEpoch rewritten, plus maxTimestamp and the timestamp-type
// bit for LogAppendTime topics); only the cleaner of compacted topics
// decodes them, in the background.
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
//	    cleaner-offset-checkpoint             compacted topics: "0\n1\n<offset>\n", offsets below it are cleaned
//	    %020d.cleaned                         a cleaned segment being written (removed on open)
//	    %020d-%020d.swap                      a cleaned segment replacing the segments in [base, next) (installed on open)
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
//   - Group commit (group.go): AppendAsync (storage.AsyncAppender) queues
//     batches with their offsets assigned and one drainer per log appends
//     all that is queued with one Append, so appends started while an
//     fsync runs share the next one; each is acknowledged only when the
//     Append carrying it returned.
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
//   - Compaction (cleanup.policy=compact, cleaner.go) keeps the latest
//     record of each key in the sealed segments, at its offset: a batch
//     keeps its base offset and lastOffsetDelta and loses the records a
//     later one of the same key replaced, key-less records, and tombstones
//     already cleaned once and older than delete.retention.ms; a batch left
//     empty is dropped, control batches stay. The active segment and
//     segments younger than min.compaction.lag.ms are never cleaned. A
//     background cleaner (one pass at a time per backend, every
//     Options.CleanerBackoff) cleans a log once its dirty bytes reach
//     min.cleanable.dirty.ratio of the cleanable bytes or its oldest dirty
//     batch is older than max.compaction.lag.ms. Its offset map holds a
//     16-byte MD5 and an offset per key, at most DedupeBufferSize/24 keys;
//     a longer dirty part is cleaned over several passes. Cleaned segments
//     are written beside the old ones and swapped in through a rename, so
//     a crash leaves the old or the new segments, never a mix. A read at
//     an offset compaction removed returns the next surviving batch.
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
