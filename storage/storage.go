package storage

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/kop-project/kop/recordbatch"
	"github.com/prometheus/client_golang/prometheus"
)

// Errors every PartitionLog implementation returns in the same situations;
// kafkaapi maps them to Kafka error codes.
var (
	// ErrOffsetOutOfRange: a read or delete outside [LogStartOffset, LogEndOffset].
	ErrOffsetOutOfRange = errors.New("storage: offset out of range")
	// ErrClosed: the log was closed (deleted topic, lost leadership, shutdown).
	ErrClosed = errors.New("storage: log closed")
	// ErrUnavailable: the backing store cannot be reached now; retriable.
	ErrUnavailable = errors.New("storage: backend unavailable")
	// ErrFenced: another writer took the partition over; this one must stop.
	ErrFenced = errors.New("storage: writer fenced")
	// ErrMessageTooLarge: a batch is larger than the topic's
	// max.message.bytes (MESSAGE_TOO_LARGE).
	ErrMessageTooLarge = errors.New("storage: batch larger than max.message.bytes")
	// ErrIO: the log's files could not be written or read (disk full,
	// read-only file system, a failing disk); KAFKA_STORAGE_ERROR, which
	// clients retry. The error names the partition and the cause.
	ErrIO = errors.New("storage: I/O error")
)

// TopicPartition names one partition of a Kafka topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Batch is one v2 RecordBatch as the client sent it, with its parsed header.
// Append rewrites BaseOffset and PartitionLeaderEpoch in Raw (and Header)
// and stores nothing else of its own inside the bytes.
type Batch struct {
	Header recordbatch.Header
	Raw    []byte
}

// CheckBatch is what every backend checks of a batch before it appends it:
// its header parses, it is exactly raw's length, it holds records, and it
// fits max.message.bytes.
func CheckBatch(raw []byte, cfg TopicConfig) (recordbatch.Header, error) {
	h, err := recordbatch.ParseHeader(raw)
	if err != nil {
		return h, err
	}
	if h.Size() != len(raw) {
		return h, fmt.Errorf("%w: %d bytes beyond the batch", recordbatch.ErrCorruptMessage, len(raw)-h.Size())
	}
	if h.LastOffsetDelta < 0 {
		return h, fmt.Errorf("%w: no records", recordbatch.ErrInvalidRecord)
	}
	if cfg.MaxMessageBytes > 0 && h.Size() > int(cfg.MaxMessageBytes) {
		return h, fmt.Errorf("%w: batch of %d bytes, max.message.bytes is %d", ErrMessageTooLarge, h.Size(), cfg.MaxMessageBytes)
	}
	return h, nil
}

// AppendResult reports where an append landed.
type AppendResult struct {
	BaseOffset     int64 // offset given to the first record of the first batch
	LastOffset     int64 // offset of the last record of the last batch
	LogAppendTime  int64 // ms; -1 unless the topic uses LogAppendTime
	LogStartOffset int64
}

// ReadResult is what a Read returns: whole batches, concatenated as they are
// on the wire, the first one containing the requested offset.
type ReadResult struct {
	Records        []byte
	LogStartOffset int64
	HighWatermark  int64
	// Release, when set, gives Records' buffer back to the backend for
	// reuse; a caller that calls it must not touch Records afterwards.
	// Not calling it is fine: the garbage collector takes the buffer.
	Release func()
}

// A RegionReader is a PartitionLog that can serve a read as a region of a
// file, for a connection to send with sendfile(2) instead of copying the
// records through user space. The embedded log is one.
type RegionReader interface {
	// ReadRegion returns whole batches from the one holding offset, at
	// least that one and at most maxBytes otherwise, as Read does, but
	// maybe fewer (it stops at a batch boundary it knows without reading
	// the file). ok is false when it cannot serve this read as a region;
	// the caller then calls Read. Errors are Read's.
	ReadRegion(ctx context.Context, offset int64, maxBytes int) (r Region, ok bool, err error)
}

// Region is records in a file: Len bytes from Pos, whole batches spanning
// Records offsets. The file stays open until Release, which the caller
// must call once it has sent them.
type Region struct {
	File                          *os.File
	Pos                           int64
	Len                           int
	Records                       int64
	LogStartOffset, HighWatermark int64
	Release                       func()
}

// PartitionLog is the seam between the Kafka protocol and a storage backend:
// the ordered, offset-addressed log of one partition. The embedded log
// (storage/disklog) and the Pulsar log (pulsarbridge) implement it, and both
// run the conformance suite in storage/storagetest.
//
// Offsets are dense: a batch of n records takes the next n offsets. A log has
// one writer at a time; Append calls are serialised by the caller.
// Implementations must be safe for concurrent Read with Append.
type PartitionLog interface {
	// Append stores the batches in order, giving them consecutive offsets from
	// LogEndOffset, and rewrites each batch's baseOffset and
	// partitionLeaderEpoch (to leaderEpoch) in place. When it returns without
	// error the batches are as durable as the backend's configuration
	// promises (fsync policy, Pulsar ack) and visible to Read.
	Append(ctx context.Context, leaderEpoch int32, batches []Batch) (AppendResult, error)

	// Read returns whole batches starting with the one that contains offset,
	// stopping before maxBytes is exceeded but always returning at least one
	// batch when offset < LogEndOffset. offset == LogEndOffset returns no
	// records. Outside [LogStartOffset, LogEndOffset] it returns
	// ErrOffsetOutOfRange.
	Read(ctx context.Context, offset int64, maxBytes int) (ReadResult, error)

	// LogStartOffset is the first retained offset.
	LogStartOffset() int64
	// LogEndOffset is the offset the next appended record gets; with one
	// replica it is also the high watermark.
	LogEndOffset() int64

	// OffsetForTimestamp returns the first offset whose batch maxTimestamp is
	// >= ts, and that batch's maxTimestamp; (-1, -1) when there is none.
	OffsetForTimestamp(ctx context.Context, ts int64) (offset, timestamp int64, err error)

	// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch <=
	// epoch that the log has seen and the end offset of that epoch (the start
	// offset of the next epoch, or LogEndOffset for the latest one).
	// (-1, -1) when the log has no epoch <= epoch.
	EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64)

	// DeleteRecords moves the log start offset up to before (clamped to
	// LogEndOffset is an error: before > LogEndOffset is ErrOffsetOutOfRange)
	// and returns the new log start offset.
	DeleteRecords(ctx context.Context, before int64) (int64, error)

	// SetConfig applies changed topic configuration (retention, segment size,
	// flush policy) to an open log.
	SetConfig(cfg TopicConfig)

	// Changed returns a channel that is closed the next time the log end
	// offset moves or the log is closed. Long-polling fetches wait on it.
	Changed() <-chan struct{}

	// Close releases the log; later calls return ErrClosed.
	Close() error
}

// Backend opens and deletes partition logs.
type Backend interface {
	// Open opens (creating when missing) the log of one partition.
	Open(ctx context.Context, tp TopicPartition, cfg TopicConfig) (PartitionLog, error)
	// DeleteTopic removes the data of every partition of the topic. Logs of
	// the topic must be closed first.
	DeleteTopic(ctx context.Context, topic string) error
	// Close releases the backend.
	Close() error
}

// TopicEnsurer is implemented by backends that keep state per topic, not
// only per partition (Pulsar's partitioned topics): the node calls it when
// a topic is created or grows, so the backend's own tools see every
// partition before data arrives. Partition counts only grow.
type TopicEnsurer interface {
	EnsureTopic(ctx context.Context, topic string, partitions int32) error
}

// AsyncAppender is implemented by logs whose writes are round trips to a
// remote store (Pulsar): appends are started in order and complete later,
// so a partition keeps several in flight instead of one.
//
// Failure model: after one started append fails, every append started
// after it fails too (even when its own write reached the store), and the
// log refuses new appends until Settle has waited out the appends in
// flight and re-read its end offset from the store. A caller that keeps
// state derived from the log (idempotent producers) rebuilds it after
// Settle: the log may hold entries whose appends reported failure.
type AsyncAppender interface {
	// AppendAsync validates the batches, gives them consecutive offsets
	// from the end of what is stored or in flight, rewrites baseOffset and
	// partitionLeaderEpoch in place, and starts storing them. An error
	// means nothing was started and done is never called. Otherwise done
	// is called exactly once, from another goroutine, in the order of the
	// AppendAsync calls, when the batches are as durable as Append's would
	// be (then visible to Read) or have failed. Calls are serialised by
	// the caller, as for Append.
	AppendAsync(ctx context.Context, leaderEpoch int32, batches []Batch, done func(AppendResult, error)) error
	// Settle waits until no append is in flight and, after a failure,
	// makes the log consistent with the store again.
	Settle(ctx context.Context) error
}

// ErrNeedsSettle: an AsyncAppender refused an append because an earlier one
// failed; Settle first. Retriable.
var ErrNeedsSettle = errors.New("storage: an earlier append failed; the log must settle")

// Compactor is implemented by logs that clean compacted topics
// (cleanup.policy=compact): the latest record of each key is kept at its
// offset, earlier ones are removed, and tombstones (null values) are
// removed once delete.retention.ms has passed since cleaning first reached
// them. The part of the log written less than min.compaction.lag.ms ago,
// and the part a log still appends to, is never cleaned. Offsets never
// change: a Read at a removed offset returns the next surviving batch.
// Backends clean in the background; Compact is the same pass run now.
type Compactor interface {
	// Compact cleans what is cleanable now, whatever the dirty ratio,
	// and reports what it did. A log of a topic that is not compacted
	// does nothing.
	Compact(ctx context.Context) (CompactStats, error)
}

// CompactStats is what one cleaning pass did.
type CompactStats struct {
	CleanedTo      int64 // offsets below it are cleaned (the first dirty offset)
	BytesRead      int64
	BytesWritten   int64
	RecordsRemoved int64
	BatchesRemoved int64
}

// Instrumented is implemented by backends with metrics of their own (the
// log cleaner's totals, fsync latency): the broker registers them.
type Instrumented interface {
	Collectors() []prometheus.Collector
}
