package txn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kop-project/kop/raftmeta"
)

// Store is what the coordinator needs of the Raft metadata (implemented by
// *raftmeta.Store).
type Store interface {
	IsLeader() bool
	LeaderChanged() <-chan struct{}
	Barrier(ctx context.Context) error
	Txn(id string) (raftmeta.Txn, bool)
	Txns() []raftmeta.Txn
	PutTxn(ctx context.Context, t raftmeta.Txn, prevVersion int64) (raftmeta.Txn, error)
	DeleteTxn(ctx context.Context, id string, prevVersion int64) error
	CommitTxnOffsets(ctx context.Context, group string, producerID int64, commits []raftmeta.OffsetCommit) error
	Topic(name string) (raftmeta.Topic, bool)
}

// Markers writes transaction markers: a commit or abort control batch of
// the producer (at its epoch) to each partition, returning once every one
// is durable on the partition's leader. A partition named twice, or
// marked twice after a retry, is harmless: a marker for a producer with
// no open transaction there changes nothing a reader sees.
type Markers interface {
	WriteMarkers(ctx context.Context, producerID int64, epoch int16, commit bool, partitions []raftmeta.OffsetKey) error
}

// Config are the coordinator's settings (Kafka's transaction.* broker
// settings).
type Config struct {
	MaxTimeout time.Duration // transaction.max.timeout.ms
	// MaxMetadataBytes bounds a TxnOffsetCommit's metadata, as
	// offset.metadata.max.bytes bounds OffsetCommit's.
	MaxMetadataBytes int
	// IDExpiration forgets a transactional id with no open transaction
	// after this long without use (transactional.id.expiration.ms).
	IDExpiration time.Duration
	// CleanupInterval is how often timed-out transactions are aborted and
	// ended transactions left in Prepare are finished
	// (transaction.abort.timed.out.transaction.cleanup.interval.ms).
	CleanupInterval time.Duration
	// StoreTimeout bounds the background loop's Raft and marker writes.
	StoreTimeout time.Duration
	// ProducerID hands out a new producer id (shared with idempotent
	// producers, so an id is never given twice).
	ProducerID func(ctx context.Context) (int64, error)
	// GroupMember checks a consumer's group membership and generation
	// for TxnOffsetCommit v3+ (the group coordinator's check); nil
	// checks nothing.
	GroupMember func(group string, generation int32, memberID, instanceID string) *kerr.Error
	Logger      *slog.Logger
	// Now is the clock (tests set it); nil is time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.MaxTimeout <= 0 {
		c.MaxTimeout = 15 * time.Minute
	}
	if c.MaxMetadataBytes <= 0 {
		c.MaxMetadataBytes = 4096
	}
	if c.IDExpiration <= 0 {
		c.IDExpiration = 7 * 24 * time.Hour
	}
	if c.CleanupInterval <= 0 {
		c.CleanupInterval = 10 * time.Second
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Coordinator coordinates every transactional id while this broker is the
// Raft leader.
type Coordinator struct {
	cfg     Config
	store   Store
	markers Markers
	log     *slog.Logger

	mu    sync.Mutex
	ready bool                // leader, and the log applied (Barrier)
	busy  map[string]struct{} // transactional ids an operation works on

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a coordinator; Start makes it follow Raft leadership.
func New(store Store, markers Markers, cfg Config) *Coordinator {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Coordinator{cfg: cfg, store: store, markers: markers, log: cfg.Logger,
		busy: map[string]struct{}{}, ctx: ctx, cancel: cancel}
}

// Start follows Raft leadership and runs the cleanup loop.
func (c *Coordinator) Start() {
	c.wg.Add(1)
	go func() { defer c.wg.Done(); c.run() }()
}

// Close stops the loop.
func (c *Coordinator) Close() {
	c.cancel()
	c.wg.Wait()
}

// run makes the coordinator ready once this broker leads and has applied
// the log, and aborts timed-out transactions every CleanupInterval.
func (c *Coordinator) run() {
	tick := time.NewTicker(c.cfg.CleanupInterval)
	defer tick.Stop()
	for {
		changed := c.store.LeaderChanged()
		switch {
		case !c.store.IsLeader():
			c.setReady(false)
		case !c.isReady():
			// Newly leader: serve once this node has applied the log.
			ctx, cancel := context.WithTimeout(c.ctx, c.cfg.StoreTimeout)
			err := c.store.Barrier(ctx)
			cancel()
			if err != nil {
				c.log.Warn("transaction coordinator: waiting for the Raft log", "err", err)
				break
			}
			c.setReady(true)
			c.cleanup()
		default:
			c.cleanup()
		}
		var retry <-chan time.Time
		if c.store.IsLeader() && !c.isReady() {
			retry = time.After(500 * time.Millisecond) // the barrier failed: again soon
		}
		select {
		case <-c.ctx.Done():
			return
		case <-changed:
			// Whatever the new state, a leader serves again only
			// after a new barrier.
			c.setReady(false)
		case <-tick.C:
		case <-retry:
		}
	}
}

func (c *Coordinator) isReady() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ready
}

func (c *Coordinator) setReady(v bool) {
	c.mu.Lock()
	c.ready = v
	c.mu.Unlock()
}

// cleanup aborts transactions open longer than their timeout, fencing
// their producer with a new epoch as Kafka does, finishes ended
// transactions whose markers were not all written, and forgets ids
// unused for IDExpiration.
func (c *Coordinator) cleanup() {
	now := c.cfg.Now().UnixMilli()
	for _, t := range c.store.Txns() {
		if c.ctx.Err() != nil || !c.store.IsLeader() {
			return
		}
		var err error
		switch {
		case t.State == raftmeta.TxnOngoing && now-t.StartMs > int64(t.TimeoutMs):
			err = c.withTxn(c.ctx, t.ID, func(ctx context.Context) error {
				t, ok := c.store.Txn(t.ID)
				if !ok || t.State != raftmeta.TxnOngoing || now-t.StartMs <= int64(t.TimeoutMs) {
					return nil // it moved on meanwhile
				}
				c.log.Info("aborting a timed-out transaction", "transactionalId", t.ID, "producerId", t.ProducerID, "epoch", t.Epoch, "timeoutMs", t.TimeoutMs)
				_, err := c.end(ctx, t, false, true)
				return err
			})
		case (t.State == raftmeta.TxnEmpty || t.State == raftmeta.TxnCompleteCommit || t.State == raftmeta.TxnCompleteAbort) &&
			now-t.UpdatedMs > c.cfg.IDExpiration.Milliseconds():
			err = c.withTxn(c.ctx, t.ID, func(ctx context.Context) error {
				c.log.Info("forgetting an expired transactional id", "transactionalId", t.ID, "producerId", t.ProducerID)
				return c.store.DeleteTxn(ctx, t.ID, t.Version) // a conflict: it was used meanwhile
			})
		case t.State == raftmeta.TxnPrepareCommit || t.State == raftmeta.TxnPrepareAbort:
			err = c.withTxn(c.ctx, t.ID, func(ctx context.Context) error {
				t, ok := c.store.Txn(t.ID)
				if !ok || t.State != raftmeta.TxnPrepareCommit && t.State != raftmeta.TxnPrepareAbort {
					return nil
				}
				_, err := c.complete(ctx, t)
				return err
			})
		}
		if err != nil && !errors.Is(err, errBusy) {
			c.log.Warn("transaction cleanup", "transactionalId", t.ID, "err", err)
		}
	}
}

// errBusy: another operation works on the transactional id.
var errBusy = errors.New("txn: a concurrent operation on the transactional id")

// withTxn runs fn as the only operation on the transactional id, with a
// deadline of StoreTimeout at most.
func (c *Coordinator) withTxn(ctx context.Context, id string, fn func(context.Context) error) error {
	c.mu.Lock()
	if _, ok := c.busy[id]; ok {
		c.mu.Unlock()
		return errBusy
	}
	c.busy[id] = struct{}{}
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.busy, id)
		c.mu.Unlock()
	}()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	defer cancel()
	return fn(ctx)
}

// check answers the request-independent errors: not the coordinator, or
// still loading.
func (c *Coordinator) check() *kerr.Error {
	if !c.store.IsLeader() {
		return kerr.NotCoordinator
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		return kerr.CoordinatorLoadInProgress
	}
	return nil
}

// put writes t over the version it was read at.
func (c *Coordinator) put(ctx context.Context, t raftmeta.Txn) (raftmeta.Txn, error) {
	t.UpdatedMs = c.cfg.Now().UnixMilli()
	return c.store.PutTxn(ctx, t, t.Version)
}

// end moves an Ongoing transaction to Prepare and completes it. With
// fence (a timed-out or replaced producer must not go on) the epoch is
// bumped first, so the markers fence the old producer on every
// partition; when the epoch is exhausted the markers go out under the
// transaction's own id and epoch, and the id is replaced afterwards.
func (c *Coordinator) end(ctx context.Context, t raftmeta.Txn, commit, fence bool) (raftmeta.Txn, error) {
	exhausted := false
	if fence {
		if t.Epoch < maxEpoch {
			t.Epoch++
		} else {
			exhausted = true
		}
	}
	t.State = raftmeta.TxnPrepareAbort
	if commit {
		t.State = raftmeta.TxnPrepareCommit
	}
	t, err := c.put(ctx, t)
	if err != nil {
		return t, err
	}
	if t, err = c.complete(ctx, t); err != nil || !exhausted {
		return t, err
	}
	if t, err = c.bumpEpoch(ctx, t); err != nil {
		return t, err
	}
	return c.put(ctx, t)
}

// bumpEpoch gives t the next epoch, or a new producer id at epoch 0 when
// the epoch is exhausted. Call it only with no transaction open: markers
// of an open one must go out under its own id.
func (c *Coordinator) bumpEpoch(ctx context.Context, t raftmeta.Txn) (raftmeta.Txn, error) {
	if t.Epoch < maxEpoch {
		t.Epoch++
		return t, nil
	}
	id, err := c.cfg.ProducerID(ctx)
	if err != nil {
		return t, fmt.Errorf("a new producer id for %q, whose epoch is exhausted: %w", t.ID, err)
	}
	t.ProducerID, t.Epoch = id, 0
	return t, nil
}

// maxEpoch is the last epoch handed out; Kafka keeps 32767 unused.
const maxEpoch = 32766

// complete writes the markers of a transaction in Prepare and records
// its completion.
func (c *Coordinator) complete(ctx context.Context, t raftmeta.Txn) (raftmeta.Txn, error) {
	commit := t.State == raftmeta.TxnPrepareCommit
	if len(t.Partitions) > 0 {
		if err := c.markers.WriteMarkers(ctx, t.ProducerID, t.Epoch, commit, t.Partitions); err != nil {
			return t, fmt.Errorf("writing the markers of transaction %q: %w", t.ID, err)
		}
	}
	t.State = raftmeta.TxnCompleteAbort
	if commit {
		t.State = raftmeta.TxnCompleteCommit
	}
	return c.put(ctx, t)
}

// producerCheck checks a request's producer id and epoch against the
// transaction.
func producerCheck(t raftmeta.Txn, found bool, producerID int64, epoch int16) *kerr.Error {
	switch {
	case !found || t.ProducerID != producerID:
		return kerr.InvalidProducerIDMapping
	case epoch != t.Epoch:
		return kerr.InvalidProducerEpoch
	}
	return nil
}

// codeOf maps an error of the store or of the markers to a Kafka error
// code the client retries where it can.
func codeOf(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, errBusy), errors.Is(err, raftmeta.ErrTxnConflict):
		return kerr.ConcurrentTransactions.Code
	case errors.Is(err, raftmeta.ErrInvalidCommand):
		return kerr.InvalidRequest.Code // retrying cannot help
	case errors.Is(err, raftmeta.ErrNotLeader), errors.Is(err, raftmeta.ErrClosed), errors.Is(err, raftmeta.ErrStorage):
		return kerr.NotCoordinator.Code
	default:
		// Raft or a partition leader did not answer in time: the
		// transaction is still in a state a retry can finish.
		return kerr.CoordinatorNotAvailable.Code
	}
}

func sortedUnion[T any](a, b []T, cmp func(T, T) int) []T {
	out := slices.Clone(a)
	for _, x := range b {
		if _, found := slices.BinarySearchFunc(out, x, cmp); !found {
			out = append(out, x)
			slices.SortFunc(out, cmp)
		}
	}
	return out
}
