package pulsarbridge

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"

	"github.com/kop-project/kop/storage"
)

// Topic properties of each partition's Pulsar topic: the state a Kafka log
// keeps beside its entries.
const (
	propLogStart = "kop.logStartOffset" // DeleteRecords' log start offset
	propEpochs   = "kop.leaderEpochs"   // JSON [{"epoch":e,"start":o},…]
)

// indexInterval is how many bytes of entries may pass between two points
// of the in-memory offset index.
const indexInterval = 256 << 10

// closeWait bounds how long Close waits for Pulsar to release the
// partition's producer.
const closeWait = 5 * time.Second

// readOneWait bounds one attempt to read a single entry (recovery, binary
// search).
const readOneWait = 8 * time.Second

// readTimeout bounds one Read's wait for entries known to exist.
const readTimeout = 15 * time.Second

// indexPoint says the entry holding baseOffset base is at id.
type indexPoint struct {
	base int64
	id   pulsar.MessageID
}

// partitionLog is storage.PartitionLog on one Pulsar topic, written by one
// exclusive producer. Offsets are assigned here and written into each
// entry (the batch's baseOffset).
type partitionLog struct {
	b     *Backend
	log   *slog.Logger // the backend's, with topic, partition and pulsarTopic
	tp    storage.TopicPartition
	topic string // persistent://…/T-partition-p
	tn    utils.TopicName
	// format is how this log writes: "kafka" (one entry per batch) or
	// "pulsar" (one message per record); reads handle both.
	format string

	appendMu sync.Mutex // serialises AppendAsync, Settle, DeleteRecords, Close
	producer pulsar.Producer
	// sendCtx outlives every request: a message handed to the producer
	// must stay in its queue (and be resent, in order, after a
	// reconnection) until Pulsar stores it or the log closes, or the
	// entries after it would leave a hole. Close cancels it.
	sendCtx    context.Context
	cancelSend context.CancelFunc

	mu          sync.Mutex
	cfg         storage.TopicConfig
	start, end  int64
	epochs      storage.Epochs
	index       []indexPoint // sorted by base; dense (every indexInterval) from indexedFrom
	indexedFrom int64
	sinceIndex  int
	cursors     map[int64]*cursor
	side        *sideLog // the cleaned part of a compacted partition (compact.go)
	changed     chan struct{}
	closed      bool
	broken      error // a send failed: the end offset must be recovered
	fenced      error // another writer took the topic over: this log never writes again
	next        int64 // offset of the next append started; end when nothing is in flight
	ops         []*appendOp
	opsBytes    int
	opsMsgs     int
	opDone      chan struct{} // closed and replaced when an op completes
	stopRefresh chan struct{}

	// cleaning holds one compaction pass of this log at a time.
	cleaning chan struct{}
	// beforeCompactCommit, when set, runs before a pass commits (tests).
	beforeCompactCommit func() error
}

func openLog(ctx context.Context, b *Backend, tp storage.TopicPartition, cfg storage.TopicConfig) (*partitionLog, error) {
	topic := b.partitionName(tp)
	tn, err := utils.GetTopicName(topic)
	if err != nil {
		return nil, fmt.Errorf("pulsarbridge: topic name %q: %w", topic, err)
	}
	format := cfg.EntryFormat
	if format == "" {
		format = "kafka"
	}
	l := &partitionLog{b: b, log: b.log.With("topic", tp.Topic, "partition", tp.Partition, "pulsarTopic", topic), tp: tp, topic: topic, tn: *tn, format: format, cfg: cfg, cursors: map[int64]*cursor{},
		changed: make(chan struct{}), opDone: make(chan struct{}), cleaning: make(chan struct{}, 1)}
	l.sendCtx, l.cancelSend = context.WithCancel(context.Background())
	if err := l.connect(ctx, true); err != nil {
		l.cancelSend()
		return nil, err
	}
	if err := l.recover(ctx); err != nil {
		l.producer.Close()
		l.cancelSend()
		return nil, err
	}
	if trims(cfg) {
		// Before retention 0 applies: the subscription holds what is
		// not cleaned yet.
		if err := b.subscribe(ctx, l.tn); err != nil {
			l.producer.Close()
			l.cancelSend()
			return nil, err
		}
	}
	if err := b.applyRetention(ctx, tp.Topic, cfg); err != nil {
		b.log.Warn("applying Kafka retention to Pulsar", "topic", topic, "err", err)
	}
	l.stopRefresh = make(chan struct{})
	go l.refreshLoop()
	go l.cleanLoop()
	b.log.Debug("opened partition on Pulsar", "topic", topic, "start", l.start, "end", l.end)
	return l, nil
}

func (l *partitionLog) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// LogStartOffset implements storage.PartitionLog.
func (l *partitionLog) LogStartOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.start
}

// LogEndOffset implements storage.PartitionLog.
func (l *partitionLog) LogEndOffset() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.end
}

// EndOffsetForEpoch implements storage.PartitionLog.
func (l *partitionLog) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epochs.EndOffset(epoch, l.end)
}

// DeleteRecords implements storage.PartitionLog: the new log start is
// stored as a topic property; Pulsar's retention removes the entries.
func (l *partitionLog) DeleteRecords(ctx context.Context, before int64) (int64, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	closed, start, end, epochs := l.closed, l.start, l.end, slices.Clone(l.epochs)
	l.mu.Unlock()
	if closed {
		return 0, storage.ErrClosed
	}
	if before > end || before < 0 {
		return 0, fmt.Errorf("%w: delete before %d, log is [%d, %d]", storage.ErrOffsetOutOfRange, before, start, end)
	}
	if before <= start {
		return start, nil
	}
	if err := l.saveProperties(ctx, before, epochs); err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.start = before
	l.mu.Unlock()
	return before, nil
}

// SetConfig implements storage.PartitionLog; a changed retention is
// applied to the Pulsar topic in the background.
func (l *partitionLog) SetConfig(cfg storage.TopicConfig) {
	l.mu.Lock()
	old := l.cfg
	l.cfg = cfg
	l.mu.Unlock()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), l.b.opts.OperationTimeout)
		defer cancel()
		if trims(cfg) {
			if err := l.b.subscribe(ctx, l.tn); err != nil {
				l.log.Warn("subscribing a compacted partition before trimming it", "err", err)
				return // retention 0 must wait for the subscription
			}
		}
		if err := l.b.applyRetention(ctx, l.tp.Topic, cfg); err != nil {
			l.log.Warn("applying Kafka retention to Pulsar", "err", err)
			return
		}
		if trims(old) && !trims(cfg) {
			// Retention holds the data again: the subscription would
			// only keep a growing backlog.
			if err := l.b.admin.Subscriptions().DeleteWithContext(ctx, l.tn, trimSubscription); err != nil && httpStatus(err) != http.StatusNotFound {
				l.log.Warn("removing the trimming subscription of a partition no longer compacted", "err", err)
			}
		}
	}()
}

// Changed implements storage.PartitionLog.
func (l *partitionLog) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// Close implements storage.PartitionLog: the producer is closed, so the
// next leader's exclusive producer can take the partition.
func (l *partitionLog) Close() error {
	// Mark closed and stop waiting sends first, so an append waiting for
	// room in the pipeline gives up and lets go of appendMu.
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.signalOpDoneLocked()
	l.mu.Unlock()
	l.cancelSend()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	close(l.stopRefresh)
	readers := make([]pulsar.Reader, 0, len(l.cursors))
	for k, c := range l.cursors {
		readers = append(readers, c.r)
		delete(l.cursors, k)
	}
	close(l.changed)
	l.mu.Unlock()
	// Closing Pulsar producers and readers waits for the broker's answer,
	// which does not come while the topic is being deleted: wait a
	// little, so the next leader (or a reopen) finds the exclusive
	// producer gone, then let it finish in the background.
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.producer.Close()
		for _, r := range readers {
			r.Close()
		}
	}()
	select {
	case <-done:
	case <-time.After(closeWait):
		l.log.Warn("closing the Pulsar producer takes long; continuing in the background")
	}
	l.mu.Lock()
	l.abandonOpsLocked(fmt.Errorf("pulsarbridge: %s: %w", l.topic, storage.ErrClosed))
	l.mu.Unlock()
	return nil
}
