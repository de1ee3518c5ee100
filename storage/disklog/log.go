package disklog

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kop-project/kop/internal/bufpool"
	"github.com/kop-project/kop/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for TopicConfig fields that have no meaningful zero value.
const (
	defaultSegmentBytes  = 1 << 30
	defaultIndexInterval = 4096
	defaultSegmentMs     = 7 * 24 * time.Hour / time.Millisecond
)

// normalize fills structural fields a zero TopicConfig leaves empty.
// Retention fields are taken literally (negative = unlimited).
func normalize(cfg storage.TopicConfig) storage.TopicConfig {
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = defaultSegmentBytes
	}
	// Positions in the offset index are uint32 and Kafka caps segment.bytes
	// at an int32; so do we.
	cfg.SegmentBytes = min(cfg.SegmentBytes, math.MaxInt32)
	if cfg.IndexIntervalBytes <= 0 {
		cfg.IndexIntervalBytes = defaultIndexInterval
	}
	if cfg.SegmentMs <= 0 {
		cfg.SegmentMs = int64(defaultSegmentMs)
	}
	return cfg
}

// Log is the embedded log of one partition; it implements
// storage.PartitionLog.
type Log struct {
	tp      storage.TopicPartition
	dir     string
	logger  *slog.Logger
	now     func() time.Time
	onClose func(*Log)

	// appendMu serialises everything that writes: Append, DeleteRecords,
	// retention, flushes and Close. Reads never take it.
	appendMu sync.Mutex
	active   *segment // the last segment; guarded by appendMu and mu
	failed   error    // a write that could not be undone; guarded by appendMu
	cleaner  *cleanerShared

	// groupMu guards group, the queue of AppendAsync (group.go); taken
	// before mu, never held across an Append.
	groupMu sync.Mutex
	group   groupState

	// flushed: offsets below it are fsynced. Written under appendMu.
	flushed atomic.Int64
	// syncs counts the fsyncs of appended data (the flush policy and
	// Flush): what the flush policies are tested by.
	syncs atomic.Int64
	// fsyncTime observes those fsyncs (the backend's histogram; nil in
	// logs opened alone).
	fsyncTime prometheus.Observer
	// bufs recycles the buffers Read returns (the backend's pool; nil in
	// logs opened alone: the garbage collector takes them).
	bufs *bufpool.Pool

	mu       sync.RWMutex // guards the fields below
	cfg      storage.TopicConfig
	segs     []*segment // by base offset; the last one is active
	logStart int64
	logEnd   int64
	epochs   storage.Epochs
	// cleanedTo: offsets below it were cleaned (compacted topics).
	cleanedTo int64
	changed   chan struct{}
	closed    bool

	flushReset chan struct{} // wakes the flusher after SetConfig
	stop       chan struct{} // closed by Close
	wg         sync.WaitGroup
}

var _ storage.PartitionLog = (*Log)(nil)

// openLog opens (creating) the log in dir, recovering it when it was not
// shut down cleanly.
func openLog(dir string, tp storage.TopicPartition, cfg storage.TopicConfig, logger *slog.Logger, now func() time.Time) (*Log, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("disklog: create %s: %w", dir, err)
	}
	l := &Log{
		tp:         tp,
		dir:        dir,
		logger:     logger.With("topic", tp.Topic, "partition", tp.Partition),
		now:        now,
		cfg:        normalize(cfg),
		changed:    make(chan struct{}),
		flushReset: make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			s.closeWhenIdle()
		}
		return nil, fmt.Errorf("disklog: open %s-%d: %w", tp.Topic, tp.Partition, err)
	}
	l.wg.Add(1)
	go l.flusher()
	return l, nil
}

// LogStartOffset implements storage.PartitionLog.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStart
}

// LogEndOffset implements storage.PartitionLog.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logEnd
}

// EndOffsetForEpoch implements storage.PartitionLog.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.EndOffset(epoch, l.logEnd)
}

// SetConfig implements storage.PartitionLog; changes apply to the next
// append, retention check and flush tick.
func (l *Log) SetConfig(cfg storage.TopicConfig) {
	l.mu.Lock()
	l.cfg = normalize(cfg)
	l.mu.Unlock()
	select {
	case l.flushReset <- struct{}{}:
	default:
	}
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// Changed implements storage.PartitionLog.
func (l *Log) Changed() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.changed
}

// Flush fsyncs the appended data now.
func (l *Log) Flush() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return l.flushLocked()
}

func (l *Log) flushLocked() error {
	l.mu.RLock()
	closed, leo := l.closed, l.logEnd
	l.mu.RUnlock()
	if closed || l.failed != nil || l.flushed.Load() >= leo {
		return nil
	}
	if err := l.syncActive(); err != nil {
		l.failed = err
		return fmt.Errorf("disklog: fsync %s: %w", filepath.Base(l.active.path), err)
	}
	l.syncs.Add(1)
	l.flushed.Store(leo)
	return nil
}

// flusher fsyncs every flush.ms while there is unflushed data.
func (l *Log) flusher() {
	defer l.wg.Done()
	for {
		l.mu.RLock()
		ms := l.cfg.FlushMs
		l.mu.RUnlock()
		var tick <-chan time.Time
		var t *time.Ticker
		if ms > 0 && ms < math.MaxInt64/int64(time.Millisecond) {
			t = time.NewTicker(time.Duration(ms) * time.Millisecond)
			tick = t.C
		}
		select {
		case <-l.stop:
			if t != nil {
				t.Stop()
			}
			return
		case <-l.flushReset:
		case <-tick:
			if err := l.Flush(); err != nil {
				l.logger.Error("periodic flush failed", "err", err)
			}
		}
		if t != nil {
			t.Stop()
		}
	}
}

// Close implements storage.PartitionLog: it fsyncs the data, writes the
// active segment's indexes and the clean-shutdown marker, and releases the
// files (once running reads finish). Closing twice is a no-op.
func (l *Log) Close() error {
	l.appendMu.Lock()
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		l.appendMu.Unlock()
		return nil
	}
	var errs []error
	if l.failed == nil {
		a := l.active
		indexer{base: a.base, interval: int64(l.cfg.IndexIntervalBytes)}.maybeTime(&a.w)
		errs = append(errs, a.f.Sync())
		if len(errs) == 1 && errs[0] == nil {
			errs = append(errs, writeIndexFiles(a))
		}
		if errors.Join(errs...) == nil {
			errs = append(errs, writeFileSync(filepath.Join(l.dir, cleanShutdownFile), nil), syncDir(l.dir))
		}
	}
	l.mu.Lock()
	l.closed = true
	segs := l.segs
	close(l.changed)
	l.mu.Unlock()
	close(l.stop)
	l.appendMu.Unlock()
	l.wg.Wait()
	for _, s := range segs {
		s.closeWhenIdle()
	}
	if l.onClose != nil {
		l.onClose(l)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("disklog: close %s-%d: %w", l.tp.Topic, l.tp.Partition, err)
	}
	return nil
}

// ioError marks a failure of the log's files as storage.ErrIO
// (KAFKA_STORAGE_ERROR), naming the partition, what failed and why (disk
// full, read-only, I/O error).
func (l *Log) ioError(what string, err error) error {
	return fmt.Errorf("%w: partition %s: %s: %w", storage.ErrIO, partitionDir(l.tp), what, err)
}

// syncActive fsyncs the active segment's appended data, timing it.
func (l *Log) syncActive() error {
	start := time.Now()
	err := l.active.f.Sync()
	if l.fsyncTime != nil {
		l.fsyncTime.Observe(time.Since(start).Seconds())
	}
	return err
}
