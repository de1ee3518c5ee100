package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

// Manager holds the open partitions of this broker.
type Manager struct {
	backend storage.Backend
	log     *slog.Logger
	// txnIndex keeps the partitions' aborted transactions and says which
	// transactions are open; nil: both are known from the log's tail.
	txnIndex TxnIndex
	// rebuildTail is how many offsets from the end are replayed on open
	// (defaultRebuildTail; tests make it small).
	rebuildTail int64

	mu    sync.Mutex
	parts map[storage.TopicPartition]*Partition
}

// NewManager returns a Manager opening logs from backend.
func NewManager(backend storage.Backend, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.Default()
	}
	return &Manager{backend: backend, log: log, parts: make(map[storage.TopicPartition]*Partition), rebuildTail: defaultRebuildTail}
}

// SetTxnIndex makes partitions record their aborted transactions in idx
// and load them, and the open transactions' start times, from it. Call it
// before any partition is opened.
func (m *Manager) SetTxnIndex(idx TxnIndex) { m.txnIndex = idx }

// Acquire returns the partition, opening its log when it is not open yet.
// leaderEpoch is this broker's epoch as leader; cfg the topic's config.
func (m *Manager) Acquire(ctx context.Context, tp storage.TopicPartition, leaderEpoch int32, cfg storage.TopicConfig) (*Partition, error) {
	m.mu.Lock()
	p := m.parts[tp]
	if p == nil {
		p = &Partition{tp: tp, m: m, ready: make(chan struct{})}
		m.parts[tp] = p
		m.mu.Unlock()
		p.open(ctx, leaderEpoch, cfg)
	} else {
		m.mu.Unlock()
	}
	select {
	case <-p.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if p.err != nil {
		m.mu.Lock()
		if m.parts[tp] == p {
			delete(m.parts, tp)
		}
		m.mu.Unlock()
		return nil, p.err
	}
	p.setEpoch(leaderEpoch)
	return p, nil
}

// Get returns an open partition.
func (m *Manager) Get(tp storage.TopicPartition) (*Partition, bool) {
	m.mu.Lock()
	p := m.parts[tp]
	m.mu.Unlock()
	if p == nil {
		return nil, false
	}
	select {
	case <-p.ready:
		return p, p.err == nil
	default:
		return nil, false
	}
}

// Open lists the partitions that are open.
func (m *Manager) Open() []storage.TopicPartition {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]storage.TopicPartition, 0, len(m.parts))
	for tp := range m.parts {
		out = append(out, tp)
	}
	return out
}

// SetConfig applies a topic's changed config to its open partitions.
func (m *Manager) SetConfig(topic string, cfg storage.TopicConfig) {
	for _, p := range m.topicParts(topic) {
		p.cfg.Store(&cfg)
		p.log.SetConfig(cfg)
	}
}

// Release closes one partition's log (leadership moved away).
func (m *Manager) Release(tp storage.TopicPartition) error {
	m.mu.Lock()
	p := m.parts[tp]
	delete(m.parts, tp)
	m.mu.Unlock()
	if p == nil {
		return nil
	}
	<-p.ready
	if p.err != nil {
		return nil
	}
	return p.log.Close()
}

// discard closes a partition whose log another writer took over
// (storage.ErrFenced) and forgets it, unless it was released or opened
// again meanwhile: the next Acquire opens the log afresh, which succeeds
// only where this broker still leads the partition.
func (m *Manager) discard(p *Partition) {
	m.mu.Lock()
	if m.parts[p.tp] != p {
		m.mu.Unlock()
		return
	}
	delete(m.parts, p.tp)
	m.mu.Unlock()
	m.log.Warn("closing a partition another writer took over", "topic", p.tp.Topic, "partition", p.tp.Partition)
	// Closing may wait for the backend; the caller holds p.mu.
	go func() {
		if err := p.log.Close(); err != nil {
			m.log.Warn("closing a partition another writer took over", "topic", p.tp.Topic, "partition", p.tp.Partition, "err", err)
		}
	}()
}

// DeleteTopic closes the topic's partitions and deletes its data.
func (m *Manager) DeleteTopic(ctx context.Context, topic string) error {
	for _, p := range m.topicParts(topic) {
		if err := m.Release(p.tp); err != nil {
			m.log.Warn("closing partition of deleted topic", "topic", topic, "partition", p.tp.Partition, "err", err)
		}
	}
	if err := m.backend.DeleteTopic(ctx, topic); err != nil {
		return fmt.Errorf("delete data of topic %q: %w", topic, err)
	}
	return nil
}

func (m *Manager) topicParts(topic string) []*Partition {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Partition
	for tp, p := range m.parts {
		if tp.Topic == topic {
			select {
			case <-p.ready:
				if p.err == nil {
					out = append(out, p)
				}
			default:
			}
		}
	}
	return out
}

// Close closes every open log.
func (m *Manager) Close() error {
	return m.ReleaseAll()
}

// ReleaseAll closes every open log, all at once: closing one may wait for
// its backend (a Pulsar producer's close is bounded but not instant), and
// a shutdown or a lost lease must not pay that once per partition.
func (m *Manager) ReleaseAll() error {
	open := m.Open()
	errs := make([]error, len(open))
	var wg sync.WaitGroup
	for i, tp := range open {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Release(tp); err != nil {
				errs[i] = fmt.Errorf("close %s-%d: %w", tp.Topic, tp.Partition, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Partition is one led partition: its log, its leader epoch and the state
// of the idempotent producers writing to it.
type Partition struct {
	tp    storage.TopicPartition
	m     *Manager
	ready chan struct{}
	err   error // set before ready closes
	log   storage.PartitionLog

	// epoch and cfg are read by fetches and ListOffsets, which must not
	// queue behind an append waiting for room in the log's in-flight
	// window or settling it: they are atomics, outside mu. The epoch
	// only grows (setEpoch).
	epoch atomic.Int32
	cfg   atomic.Pointer[storage.TopicConfig]

	// mu serialises appends (offsets are given, and batches submitted to
	// the log, in the order of AppendAsync calls) and guards producers.
	// It is held while an append waits for the log and while the log
	// settles, so nothing but appends takes it.
	mu        sync.Mutex
	producers map[int64]*producerState
	poisoned  atomic.Bool // an append in flight failed: settle first

	// txnMu guards txn, which appends update (under mu) and fetches read
	// without waiting for appends.
	txnMu sync.Mutex
	txn   txnState
}

func (p *Partition) open(ctx context.Context, epoch int32, cfg storage.TopicConfig) {
	defer close(p.ready)
	l, err := p.m.backend.Open(ctx, p.tp, cfg)
	if err != nil {
		p.err = fmt.Errorf("open log %s-%d: %w", p.tp.Topic, p.tp.Partition, err)
		return
	}
	p.log = l
	p.epoch.Store(epoch)
	p.cfg.Store(&cfg)
	p.producers = make(map[int64]*producerState)
	p.txn = txnState{ongoing: make(map[int64]int64)}
	if idx := p.m.txnIndex; idx != nil {
		for _, a := range idx.AbortedTxns(p.tp) {
			p.txn.addAbortedLocked(a)
		}
	}
	if err := p.rebuildProducers(ctx); err != nil {
		l.Close()
		p.err = fmt.Errorf("rebuild producer state of %s-%d: %w", p.tp.Topic, p.tp.Partition, err)
		return
	}
	// Aborts found in the tail that the index lacks (a crash between a
	// marker and its record) are recorded now; a failure is retried with
	// the next marker.
	if err := p.syncAborted(ctx); err != nil {
		p.m.log.Warn("recording aborted transactions found in the log", "topic", p.tp.Topic, "partition", p.tp.Partition, "err", err)
	}
}

// defaultRebuildTail is how many offsets from the end are read on open to
// rebuild idempotent producer state, enough for any producer still
// retrying.
const defaultRebuildTail = 50_000

// rebuildProducers replays the tail of the log so duplicate detection,
// sequence checks and the open transactions survive restarts and
// failovers.
func (p *Partition) rebuildProducers(ctx context.Context) error {
	p.txnMu.Lock()
	p.txn.ongoing = make(map[int64]int64)
	p.txnMu.Unlock()
	off := max(p.log.LogStartOffset(), min(p.log.LogEndOffset()-p.m.rebuildTail, p.openTxnsStart(ctx)))
	for off < p.log.LogEndOffset() {
		res, err := p.log.Read(ctx, off, 1<<20)
		if errors.Is(err, storage.ErrOffsetOutOfRange) {
			off = p.log.LogStartOffset()
			continue
		}
		if err != nil {
			return err
		}
		b := res.Records
		if len(b) == 0 {
			break
		}
		for len(b) > 0 {
			h, err := recordbatch.ParseHeader(b)
			if err != nil {
				return fmt.Errorf("at offset %d: %w", off, err)
			}
			if h.HasProducer() {
				p.noteProducer(&h, nil)
			}
			if h.IsTransactional() {
				p.txnMu.Lock()
				p.txn.noteBatchLocked(&h, b[:h.Size()])
				p.txnMu.Unlock()
			}
			off = h.NextOffset()
			b = b[h.Size():]
		}
	}
	return nil
}

// setEpoch raises the leader epoch to e (never lowers it). An append
// already submitted keeps the epoch it was submitted with; the next one
// uses e.
func (p *Partition) setEpoch(e int32) {
	for {
		cur := p.epoch.Load()
		if e <= cur || p.epoch.CompareAndSwap(cur, e) {
			return
		}
	}
}

// LeaderEpoch is the epoch this broker leads the partition with. It never
// waits for an append.
func (p *Partition) LeaderEpoch() int32 { return p.epoch.Load() }

// Config is the topic config the partition runs with. It never waits for
// an append.
func (p *Partition) Config() storage.TopicConfig { return *p.cfg.Load() }

// Log is the partition's log, for reads.
func (p *Partition) Log() storage.PartitionLog { return p.log }

// Append writes one produced batch and waits for it: AppendAsync, then
// Wait.
func (p *Partition) Append(ctx context.Context, b storage.Batch) (storage.AppendResult, error) {
	return p.AppendAsync(ctx, b).Wait(ctx)
}

// AppendAsync starts writing one produced batch, applying idempotent
// producer rules: a retried batch already written (or still being
// written) is answered with the original's offsets and not written again.
// Batches are given offsets in the order of the calls; on a log that
// pipelines (storage.AsyncAppender) several are in flight at once.
//
// When an append in flight fails, later ones fail too and the partition
// is poisoned: the next append first settles the log and rebuilds the
// producer state from what the log really holds, so idempotent producers
// never see state that ran ahead of the store.
func (p *Partition) AppendAsync(ctx context.Context, b storage.Batch) *Pending {
	p.mu.Lock()
	defer p.mu.Unlock()
	async, _ := p.log.(storage.AsyncAppender)
	for attempt := 0; ; attempt++ {
		if async != nil && p.poisoned.Load() {
			if err := p.settle(ctx, async); err != nil {
				return p.failed(err)
			}
		}
		if b.Header.IsControl() {
			// A marker older than the producer's epoch comes from a
			// coordinator that has since fenced it: refused, as Kafka.
			if ps := p.producers[b.Header.ProducerID]; ps != nil && b.Header.ProducerEpoch < ps.epoch {
				return failed(fmt.Errorf("%w: marker at epoch %d, producer %d is at %d", ErrInvalidProducerEpoch, b.Header.ProducerEpoch, b.Header.ProducerID, ps.epoch))
			}
		}
		var ps *producerState
		if b.Header.HasProducer() && !b.Header.IsControl() {
			ps = p.producers[b.Header.ProducerID]
			dup, err := ps.check(&b.Header)
			if err != nil {
				return failed(err)
			}
			if dup != nil {
				if dup.pending != nil {
					return dup.pending
				}
				// Found in the log: its append time is not kept.
				return completed(storage.AppendResult{
					BaseOffset:     dup.firstOffset,
					LastOffset:     dup.lastOffset,
					LogAppendTime:  -1,
					LogStartOffset: p.log.LogStartOffset(),
				}, nil)
			}
		}
		// A transaction's first batch holds the last stable offset
		// back before the log can make it visible (a fetch woken by the
		// append must not take it as stable): the log end now is a
		// lower bound of where it lands, replaced by the exact offset
		// below, or dropped if the append fails.
		provisional := false
		if b.Header.IsTransactional() && !b.Header.IsControl() {
			p.txnMu.Lock()
			if _, open := p.txn.ongoing[b.Header.ProducerID]; !open {
				p.txn.ongoing[b.Header.ProducerID] = p.log.LogEndOffset()
				provisional = true
			}
			p.txnMu.Unlock()
		}
		undo := func() {
			if provisional {
				p.txnMu.Lock()
				delete(p.txn.ongoing, b.Header.ProducerID)
				p.txnMu.Unlock()
			}
		}
		batches := []storage.Batch{b}
		// Loaded under mu, so the epochs of successive appends never
		// go down.
		epoch := p.epoch.Load()
		var pend *Pending
		if async == nil {
			res, err := p.log.Append(ctx, epoch, batches)
			if err != nil {
				undo()
				return p.failed(err)
			}
			pend = completed(res, nil)
		} else {
			pend = newPending()
			err := async.AppendAsync(ctx, epoch, batches, func(res storage.AppendResult, err error) {
				if err != nil {
					p.poisoned.Store(true)
				}
				pend.complete(res, err)
			})
			if errors.Is(err, storage.ErrNeedsSettle) && attempt == 0 {
				undo()
				p.poisoned.Store(true)
				continue
			}
			if err != nil {
				undo()
				return p.failed(err)
			}
		}
		if b.Header.HasProducer() {
			// The log rewrote the batch's base offset in place.
			h, err := recordbatch.ParseHeader(batches[0].Raw)
			if err != nil {
				return failed(fmt.Errorf("batch after append: %w", err))
			}
			p.noteProducer(&h, pend)
			if h.IsTransactional() {
				p.txnMu.Lock()
				p.txn.noteBatchLocked(&h, batches[0].Raw)
				if provisional {
					p.txn.ongoing[h.ProducerID] = h.BaseOffset
				}
				p.txnMu.Unlock()
			}
		}
		return pend
	}
}

// noteProducer records a batch of an idempotent or transactional producer
// given its offsets. A transaction marker carries the producer's epoch
// (bumped when the coordinator fenced it) but no sequence: it raises the
// epoch, so the fenced producer's later batches are refused.
func (p *Partition) noteProducer(h *recordbatch.Header, pend *Pending) {
	ps := p.producers[h.ProducerID]
	if h.IsControl() {
		if ps == nil {
			p.producers[h.ProducerID] = &producerState{epoch: h.ProducerEpoch}
		} else if h.ProducerEpoch > ps.epoch {
			ps.epoch, ps.batches = h.ProducerEpoch, ps.batches[:0]
		}
		return
	}
	if ps == nil {
		ps = &producerState{epoch: h.ProducerEpoch}
		p.producers[h.ProducerID] = ps
	}
	ps.record(h, pend)
}

// failed answers an append that the log refused; a log another writer
// took over is discarded (Manager.discard).
func (p *Partition) failed(err error) *Pending {
	if errors.Is(err, storage.ErrFenced) {
		p.m.discard(p)
	}
	return failed(err)
}

// settle waits out the appends in flight after a failure, lets the log
// recover its end from the store, and rebuilds the producer state.
func (p *Partition) settle(ctx context.Context, async storage.AsyncAppender) error {
	if err := async.Settle(ctx); err != nil {
		return fmt.Errorf("settle log %s-%d: %w", p.tp.Topic, p.tp.Partition, err)
	}
	p.producers = make(map[int64]*producerState)
	if err := p.rebuildProducers(ctx); err != nil {
		return fmt.Errorf("rebuild producer state of %s-%d: %w", p.tp.Topic, p.tp.Partition, err)
	}
	p.poisoned.Store(false)
	return nil
}

// Pending is an append in flight.
type Pending struct {
	done chan struct{}
	res  storage.AppendResult
	err  error
}

func newPending() *Pending { return &Pending{done: make(chan struct{})} }

func completed(res storage.AppendResult, err error) *Pending {
	p := &Pending{done: make(chan struct{}), res: res, err: err}
	close(p.done)
	return p
}

func failed(err error) *Pending { return completed(storage.AppendResult{LogAppendTime: -1}, err) }

func (p *Pending) complete(res storage.AppendResult, err error) {
	p.res, p.err = res, err
	close(p.done)
}

// Done is closed when the append has completed.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Wait waits for the append; ctx ending first gives ctx's error and leaves
// the append running.
func (p *Pending) Wait(ctx context.Context) (storage.AppendResult, error) {
	select {
	case <-p.done:
		return p.res, p.err
	case <-ctx.Done():
		return storage.AppendResult{LogAppendTime: -1}, fmt.Errorf("waiting for an append: %w", ctx.Err())
	}
}

// Topic is the partition's topic name.
func (p *Partition) Topic() string { return p.tp.Topic }
