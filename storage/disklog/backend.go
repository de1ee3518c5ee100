package disklog

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kop-project/kop/scope"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kop-project/kop/internal/bufpool"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/compaction"
)

// Options configure a Backend.
type Options struct {
	// Logger receives recovery, retention and failure events; slog.Default
	// when nil.
	Logger *slog.Logger
	// RetentionCheckInterval is how often retention runs over the open
	// logs; 5 minutes (Kafka's log.retention.check.interval.ms) when 0.
	RetentionCheckInterval time.Duration
	// Now is the clock for LogAppendTime, segment.ms and retention.ms;
	// time.Now when nil. For tests.
	Now func() time.Time
	// CleanerBackoff is how often the cleaner looks for compacted logs
	// due for cleaning; 15 s (Kafka's log.cleaner.backoff.ms) when 0.
	CleanerBackoff time.Duration
	// DedupeBufferSize bounds the cleaner's offset map (24 bytes a key, as
	// Kafka's log.cleaner.dedupe.buffer.size); 128 MiB when 0.
	DedupeBufferSize int64
}

// deletingSuffix marks a partition directory being deleted; New removes
// leftovers of an interrupted DeleteTopic.
const deletingSuffix = "-delete"

// Backend is the embedded log store: one directory per partition under a
// root directory. It implements storage.Backend.
type Backend struct {
	dir    string
	opts   Options
	logger *slog.Logger
	unlock func() error

	mu     sync.Mutex
	logs   map[storage.TopicPartition]*openState
	closed bool

	cleaner cleanerShared
	// fsyncTime is the latency of the fsyncs that acknowledge appends.
	fsyncTime prometheus.Histogram
	// bufs recycles the buffers reads return, once a fetch response has
	// been encoded from them (storage.ReadResult.Release).
	bufs bufpool.Pool

	// ctx ends when the backend closes: the background loops stop and a
	// cleaning pass in progress gives up.
	ctx         context.Context
	stop        context.CancelFunc
	done        chan struct{} // closed when the retention loop returned
	cleanerDone chan struct{} // closed when the cleaner loop returned
}

// openState is a registry entry: done is closed once log (or err) is set.
type openState struct {
	done chan struct{}
	log  *Log
	err  error
}

var _ storage.Backend = (*Backend)(nil)

// New opens the store rooted at dir (created if missing), locks it
// against a second process, and starts the retention checker.
func New(dir string, opts Options) (*Backend, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RetentionCheckInterval <= 0 {
		opts.RetentionCheckInterval = 5 * time.Minute
	}
	if opts.CleanerBackoff <= 0 {
		opts.CleanerBackoff = 15 * time.Second
	}
	if opts.DedupeBufferSize <= 0 {
		opts.DedupeBufferSize = compaction.DefaultBufferBytes
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("disklog: create %s: %w", dir, err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		fsyncTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kop_disklog_fsync_duration_seconds",
			Help:    "Latency of the embedded log's fsyncs of appended data (as etcd's wal_fsync_duration_seconds).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		dir:    dir,
		opts:   opts,
		logger: opts.Logger.With("component", "disklog"),
		unlock: unlock,
		logs:   map[storage.TopicPartition]*openState{},
		done:   make(chan struct{}),

		cleanerDone: make(chan struct{}),
		cleaner:     cleanerShared{bufferBytes: opts.DedupeBufferSize},
	}
	if err := b.removeDeleted(); err != nil {
		_ = unlock()
		return nil, err
	}
	b.ctx, b.stop = context.WithCancel(context.Background())
	go b.every(opts.RetentionCheckInterval, b.done, b.EnforceRetention)
	go b.every(opts.CleanerBackoff, b.cleanerDone, b.cleanDue)
	return b, nil
}

// removeDeleted finishes deletions a crash interrupted.
func (b *Backend) removeDeleted() error {
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return fmt.Errorf("disklog: list %s: %w", b.dir, err)
	}
	for _, e := range ents {
		if e.IsDir() && strings.HasSuffix(e.Name(), deletingSuffix) {
			if err := os.RemoveAll(filepath.Join(b.dir, e.Name())); err != nil {
				return fmt.Errorf("disklog: remove %s: %w", e.Name(), err)
			}
		}
	}
	return nil
}

// ValidTopicName reports whether name is a legal stored topic name: a
// Kafka topic name, or one qualified by a tenant's namespace (package
// scope).
func ValidTopicName(name string) bool { return scope.ValidateTopic(name) == nil }

// partitionDir is "<topic>-<partition>", a namespace's '/' written as '+'
// (in no legal name); parsePartitionDir splits on the last '-', which is
// unambiguous because a partition number has none.
func partitionDir(tp storage.TopicPartition) string {
	return strings.ReplaceAll(tp.Topic, "/", "+") + "-" + strconv.Itoa(int(tp.Partition))
}

func parsePartitionDir(name string) (storage.TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return storage.TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	topic := strings.ReplaceAll(name[:i], "+", "/")
	if err != nil || p < 0 || strconv.FormatInt(p, 10) != name[i+1:] || !ValidTopicName(topic) {
		return storage.TopicPartition{}, false
	}
	return storage.TopicPartition{Topic: topic, Partition: int32(p)}, true
}

// Open implements storage.Backend. Opening a partition that is already
// open returns the same log, with cfg applied; closing it closes it for
// every holder.
func (b *Backend) Open(ctx context.Context, tp storage.TopicPartition, cfg storage.TopicConfig) (storage.PartitionLog, error) {
	if !ValidTopicName(tp.Topic) || tp.Partition < 0 {
		return nil, fmt.Errorf("disklog: invalid topic partition %q/%d", tp.Topic, tp.Partition)
	}
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return nil, storage.ErrClosed
		}
		st, ok := b.logs[tp]
		if !ok {
			st = &openState{done: make(chan struct{})}
			b.logs[tp] = st
			b.mu.Unlock()
			st.log, st.err = openLog(filepath.Join(b.dir, partitionDir(tp)), tp, cfg, b.opts.Logger, b.opts.Now)
			b.mu.Lock()
			if st.err != nil {
				delete(b.logs, tp)
			} else {
				st.log.onClose = b.forget
				st.log.cleaner = &b.cleaner
				st.log.fsyncTime = b.fsyncTime
				st.log.bufs = &b.bufs
			}
			close(st.done)
			b.mu.Unlock()
			if st.err != nil {
				return nil, st.err
			}
			return st.log, nil
		}
		b.mu.Unlock()
		select {
		case <-st.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if st.err == nil && !st.log.isClosed() {
			st.log.SetConfig(cfg)
			return st.log, nil
		}
		// The other opener failed, or the log is being closed: open it
		// afresh.
		b.mu.Lock()
		if b.logs[tp] == st {
			delete(b.logs, tp)
		}
		b.mu.Unlock()
	}
}

// forget drops a closed log from the registry.
func (b *Backend) forget(l *Log) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if st, ok := b.logs[l.tp]; ok && st.log == l {
		delete(b.logs, l.tp)
	}
}

// DeleteTopic implements storage.Backend: logs of the topic still open are
// closed, then each partition directory is renamed aside and removed.
func (b *Backend) DeleteTopic(ctx context.Context, topic string) error {
	if !ValidTopicName(topic) {
		return fmt.Errorf("disklog: invalid topic name %q", topic)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return storage.ErrClosed
	}
	var open []*openState
	for tp, st := range b.logs {
		if tp.Topic == topic {
			open = append(open, st)
		}
	}
	b.mu.Unlock()
	var errs []error
	for _, st := range open {
		select {
		case <-st.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if st.err == nil {
			errs = append(errs, st.log.Close())
		}
	}
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return fmt.Errorf("disklog: list %s: %w", b.dir, err)
	}
	for _, e := range ents {
		tp, ok := parsePartitionDir(e.Name())
		if !e.IsDir() || !ok || tp.Topic != topic {
			continue
		}
		src := filepath.Join(b.dir, e.Name())
		dst := src + "." + strconv.FormatInt(time.Now().UnixNano(), 36) + deletingSuffix
		if err := os.Rename(src, dst); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // a concurrent DeleteTopic got there first
			}
			errs = append(errs, fmt.Errorf("disklog: delete %s: %w", e.Name(), err))
			continue
		}
		if err := os.RemoveAll(dst); err != nil {
			errs = append(errs, fmt.Errorf("disklog: delete %s: %w", e.Name(), err))
		}
	}
	errs = append(errs, syncDir(b.dir))
	return errors.Join(errs...)
}

// Close implements storage.Backend: it stops retention and closes every
// open log cleanly.
func (b *Backend) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	states := make([]*openState, 0, len(b.logs))
	for _, st := range b.logs {
		states = append(states, st)
	}
	b.mu.Unlock()
	b.stop()
	<-b.done
	<-b.cleanerDone
	var errs []error
	for _, st := range states {
		<-st.done
		if st.err == nil {
			errs = append(errs, st.log.Close())
		}
	}
	errs = append(errs, b.unlock())
	return errors.Join(errs...)
}

// every runs fn every d until the backend closes, then closes done.
func (b *Backend) every(d time.Duration, done chan struct{}, fn func()) {
	defer close(done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// cleanDue runs a cleaning pass over each open log that is due for one
// (the cleaner loop calls it every CleanerBackoff).
func (b *Backend) cleanDue() {
	for _, l := range b.openLogs() {
		if _, err := l.clean(b.ctx, false); err != nil && b.ctx.Err() == nil && !errors.Is(err, storage.ErrClosed) {
			b.logger.Error("cleaning failed", "topic", l.tp.Topic, "partition", l.tp.Partition, "err", err)
		}
	}
}

// Collectors implements storage.Instrumented: the cleaner's totals and
// the fsync latency.
func (b *Backend) Collectors() []prometheus.Collector {
	return []prometheus.Collector{&b.cleaner.totals, b.fsyncTime}
}

// openLogs lists the logs open now.
func (b *Backend) openLogs() []*Log {
	b.mu.Lock()
	defer b.mu.Unlock()
	var logs []*Log
	for _, st := range b.logs {
		select {
		case <-st.done:
			if st.err == nil {
				logs = append(logs, st.log)
			}
		default:
		}
	}
	return logs
}

// EnforceRetention runs one retention pass over the open logs now; the
// background checker calls it every RetentionCheckInterval.
func (b *Backend) EnforceRetention() {
	for _, l := range b.openLogs() {
		if err := l.enforceRetention(); err != nil {
			b.logger.Error("retention failed", "topic", l.tp.Topic, "partition", l.tp.Partition, "err", err)
		}
	}
}
