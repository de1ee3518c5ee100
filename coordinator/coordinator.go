package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// Store is what the coordinator needs of the Raft metadata (implemented by
// *raftmeta.Store).
type Store interface {
	IsLeader() bool
	LeaderChanged() <-chan struct{}
	Barrier(ctx context.Context) error

	PutGroup(ctx context.Context, g raftmeta.Group) error
	DeleteGroup(ctx context.Context, id string) error
	CommitOffsets(ctx context.Context, group string, commits []raftmeta.OffsetCommit) error
	DeleteOffsets(ctx context.Context, group string, keys []raftmeta.OffsetKey) error
	ExpireOffsets(ctx context.Context, nowMs, retentionMs int64) (int, error)
	Group(id string) (raftmeta.Group, bool)
	Groups() []raftmeta.Group
	Offsets(group string) map[raftmeta.OffsetKey]raftmeta.CommittedOffset
	Offset(group string, k raftmeta.OffsetKey) (raftmeta.CommittedOffset, bool)
	GroupIDs() []string
	// PendingTxnOffsets: a transaction still to end committed an offset
	// of k for group (OffsetFetch's require_stable).
	PendingTxnOffsets(group string, k raftmeta.OffsetKey) bool

	// Topic and TopicByID resolve the partitions offsets are committed
	// for (Kafka refuses commits of unknown partitions).
	Topic(name string) (raftmeta.Topic, bool)
	TopicByID(id [16]byte) (raftmeta.Topic, bool)
}

// Config are the coordinator's settings (Kafka's group.* and offsets.*).
type Config struct {
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	MaxSize               int           // group.max.size
	OffsetsRetention      time.Duration // offsets.retention.minutes
	ExpireInterval        time.Duration // offsets.retention.check.interval.ms
	MaxMetadataBytes      int           // offset.metadata.max.bytes
	// StoreTimeout bounds Raft writes started by timers rather than requests.
	StoreTimeout time.Duration
	Logger       *slog.Logger
	// Clock is the time source; nil is the system clock.
	Clock Clock
}

func (c *Config) defaults() {
	if c.MinSessionTimeout <= 0 {
		c.MinSessionTimeout = 6 * time.Second
	}
	if c.MaxSessionTimeout <= 0 {
		c.MaxSessionTimeout = 30 * time.Minute
	}
	if c.MaxSize <= 0 {
		c.MaxSize = 1<<31 - 1
	}
	if c.OffsetsRetention <= 0 {
		c.OffsetsRetention = 7 * 24 * time.Hour
	}
	if c.ExpireInterval <= 0 {
		c.ExpireInterval = time.Minute
	}
	if c.MaxMetadataBytes <= 0 {
		c.MaxMetadataBytes = 4096
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
}

type status int

const (
	notLeader status = iota
	loading
	active
)

// Coordinator coordinates every consumer group while this broker is the
// Raft leader.
//
// # Locking
//
// Each group has its own lock (group.mu) guarding its state; c.mu guards
// only the coordinator's status, epoch and map of groups. The order is
// group.mu, then c.mu: code holding c.mu never waits for a group's lock,
// and neither lock is held while waiting on Raft. A durable write (the
// store's PutGroup and DeleteGroup) is decided under the group's lock,
// which computes the record and queues the write (queueWriteLocked);
// c.unlock releases the lock and then makes the queued writes, in the
// order they were decided (a group's writes are chained, so an older
// record never lands after a newer one). Whoever needs the write's result
// takes the group's lock again and checks that the group is still in the
// state the write was made for (same state and generation, same member)
// before applying it; when the group moved on meanwhile, what moved it
// has already answered the requests parked on it (REBALANCE_IN_PROGRESS,
// UNKNOWN_MEMBER_ID, NOT_COORDINATOR), as in Kafka's callbacks. A slow
// Raft write therefore delays only requests that need that write's result
// (and the later writes of the same group), never another group's
// requests nor the same group's heartbeats.
type Coordinator struct {
	cfg   Config
	store Store
	log   *slog.Logger

	mu      sync.Mutex
	status  status
	epoch   uint64 // bumped on each leadership change; stale timers check it
	closed  bool
	groups  map[string]*group // only groups not Dead; a group leaves it before it becomes Dead
	metrics *groupMetrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a coordinator; Start makes it follow Raft leadership.
func New(store Store, cfg Config) *Coordinator {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{cfg: cfg, store: store, log: cfg.Logger, groups: map[string]*group{}, ctx: ctx, cancel: cancel}
	c.metrics = newGroupMetrics(c)
	return c
}

// Start follows Raft leadership: it loads the groups when this broker
// becomes leader, drops them when it stops being leader, and expires
// offsets periodically while leader.
func (c *Coordinator) Start() {
	c.wg.Add(2)
	go func() { defer c.wg.Done(); c.watchLeadership() }()
	go func() { defer c.wg.Done(); c.expireLoop() }()
}

// Close stops the timers and answers parked JoinGroup/SyncGroup requests
// with NOT_COORDINATOR.
func (c *Coordinator) Close() {
	c.mu.Lock()
	c.closed = true
	dropped := c.resignLocked()
	c.mu.Unlock()
	c.kill(dropped)
	c.cancel()
	c.wg.Wait()
}

func (c *Coordinator) watchLeadership() {
	for {
		ch := c.store.LeaderChanged()
		leader := c.store.IsLeader()
		var dropped []*group
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return
		case leader && c.status == notLeader:
			c.status = loading
			c.epoch++
			epoch := c.epoch
			c.wg.Add(1)
			go func() { defer c.wg.Done(); c.load(epoch) }()
		case !leader && c.status != notLeader:
			c.log.Info("lost Raft leadership: dropping consumer groups")
			dropped = c.resignLocked()
		}
		c.mu.Unlock()
		c.kill(dropped)
		select {
		case <-c.ctx.Done():
			return
		case <-ch:
		}
	}
}

// load waits until this leader has applied the whole log, then loads the
// groups; until then requests get COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) load(epoch uint64) {
	for {
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.StoreTimeout)
		err := c.store.Barrier(ctx)
		cancel()
		c.mu.Lock()
		if c.epoch != epoch || c.closed {
			c.mu.Unlock()
			return
		}
		if err == nil {
			var loaded []*group
			for _, rg := range c.store.Groups() {
				g := restore(rg, epoch)
				c.groups[g.id] = g
				loaded = append(loaded, g)
			}
			c.status = active
			c.log.Info("consumer groups loaded", "groups", len(c.groups))
			c.mu.Unlock()
			// The members' session timers start now, under each
			// group's lock (a request may have reached the group
			// already: a member that heartbeated has its timer).
			for _, g := range loaded {
				g.mu.Lock()
				if g.state != Dead {
					for _, m := range g.members {
						if m.session == nil {
							c.heartbeatLocked(g, m)
						}
					}
				}
				c.unlock(g)
			}
			return
		}
		c.mu.Unlock()
		c.log.Warn("loading consumer groups", "err", err)
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// resignLocked drops every group from the map and returns them: the
// caller passes them to kill once it has released c.mu.
func (c *Coordinator) resignLocked() []*group {
	c.status = notLeader
	c.epoch++
	dropped := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		dropped = append(dropped, g)
	}
	c.groups = map[string]*group{}
	return dropped
}

// kill ends groups dropped on resigning: timers stopped, parked requests
// answered NOT_COORDINATOR, and Dead, so that requests that looked them up
// before look again (and get NOT_COORDINATOR).
func (c *Coordinator) kill(groups []*group) {
	for _, g := range groups {
		g.mu.Lock()
		g.stopTimers()
		for _, m := range g.members {
			c.answerParked(m, kerr.NotCoordinator)
		}
		g.state = Dead
		c.unlock(g)
	}
}

func (c *Coordinator) expireLoop() {
	t := time.NewTicker(c.cfg.ExpireInterval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.ExpireOffsets(c.ctx)
	}
}

// ExpireOffsets removes the offsets of empty groups older than the
// retention, then forgets empty groups the store deleted.
func (c *Coordinator) ExpireOffsets(ctx context.Context) {
	c.mu.Lock()
	ok := c.status == active
	c.mu.Unlock()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.StoreTimeout)
	defer cancel()
	n, err := c.store.ExpireOffsets(ctx, c.cfg.Clock.Now().UnixMilli(), c.cfg.OffsetsRetention.Milliseconds())
	if err != nil {
		c.log.Warn("expiring offsets", "err", err)
		return
	}
	if n > 0 {
		c.log.Info("expired committed offsets", "count", n)
	}
	c.mu.Lock()
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		// A group whose record is being written or deleted stays: its
		// write decides.
		if g.state == Empty && len(g.members) == 0 && len(g.pending) == 0 && !g.writing() && g.deleting == nil {
			if _, ok := c.store.Group(g.id); !ok {
				c.removeLocked(g)
			}
		}
		c.unlock(g)
	}
}

// removeLocked takes g out of the map and makes it Dead (g.mu held).
func (c *Coordinator) removeLocked(g *group) {
	c.mu.Lock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	c.mu.Unlock()
	g.stopTimers()
	g.state = Dead
}

// check returns the error every group request gets when this broker
// cannot coordinate now.
func (c *Coordinator) check() *kerr.Error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.checkLocked()
}

// checkLocked is check with c.mu held.
func (c *Coordinator) checkLocked() *kerr.Error {
	switch {
	case c.closed || c.status == notLeader || !c.store.IsLeader():
		return kerr.NotCoordinator
	case c.status == loading:
		return kerr.CoordinatorLoadInProgress
	}
	return nil
}

// after runs f under g's lock after d, unless leadership changed since or
// g was removed.
func (c *Coordinator) after(g *group, d time.Duration, f func()) Timer {
	return c.cfg.Clock.AfterFunc(d, func() {
		g.mu.Lock()
		defer c.unlock(g)
		if g.state == Dead || !c.current(g) {
			return
		}
		f()
	})
}

// current reports whether g is the coordinator's group of its id in this
// leadership epoch (g.mu held; takes c.mu).
func (c *Coordinator) current(g *group) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch == g.epoch && !c.closed && c.groups[g.id] == g
}

// lockGroup returns group id with its lock held, creating it when create
// is set, or nil when there is no such group. A group removed between the
// look-up and the lock (deleted, expired, leadership lost) is looked up
// again. With waitDelete, a group whose deletion is being written is
// waited for (until ctx ends: COORDINATOR_NOT_AVAILABLE) and looked up
// again, so that a JoinGroup never brings members into a group whose
// record and offsets are being deleted.
func (c *Coordinator) lockGroup(ctx context.Context, id string, create, waitDelete bool) (*group, *kerr.Error) {
	for {
		c.mu.Lock()
		if e := c.checkLocked(); e != nil {
			c.mu.Unlock()
			return nil, e
		}
		g := c.groups[id]
		if g == nil && create {
			g = newGroup(id, c.epoch)
			c.groups[id] = g
		}
		c.mu.Unlock()
		if g == nil {
			return nil, nil
		}
		g.mu.Lock()
		if g.state == Dead {
			c.unlock(g)
			continue
		}
		if d := g.deleting; waitDelete && d != nil {
			c.unlock(g)
			select {
			case <-d:
			case <-ctx.Done():
				return nil, kerr.CoordinatorNotAvailable
			}
			continue
		}
		return g, nil
	}
}

// deadErr is the error for a request whose group was removed while it
// waited for a write: NOT_COORDINATOR when leadership was lost.
func (c *Coordinator) deadErr() *kerr.Error {
	if e := c.check(); e != nil {
		return e
	}
	return kerr.CoordinatorNotAvailable
}

func (c *Coordinator) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.ctx, c.cfg.StoreTimeout)
}

func newMemberID(clientID string) string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return clientID + "-" + h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// groupWrite is one durable write of a group's record: decided under the
// group's lock, made after it is released, after the group's previous
// write.
type groupWrite struct {
	g    *group
	rec  raftmeta.Group // what PutGroup writes; for a deletion only rec.ID
	del  bool           // DeleteGroup instead of PutGroup
	prev <-chan struct{}
	done chan struct{}
	err  error // set once done, read by the goroutine that made the write
}

// queueWriteLocked decides a write of g's durable record (Stable with
// assignments, or Empty), or of its deletion with del: c.unlock makes it
// once g's lock is released. The caller reads w.err after c.unlock.
func (c *Coordinator) queueWriteLocked(g *group, del bool) *groupWrite {
	w := &groupWrite{g: g, del: del, prev: g.lastWrite, done: make(chan struct{})}
	if del {
		w.rec.ID = g.id
	} else {
		w.rec = g.record(c.cfg.Clock.Now().UnixMilli())
	}
	g.lastWrite = w.done
	g.queued = append(g.queued, w)
	return w
}

// unlock releases g's lock, then makes the writes queued under it, each
// after the group's previous write and within StoreTimeout. No lock is
// held meanwhile.
func (c *Coordinator) unlock(g *group) { c.writeAll(g.release()) }

// release releases g's lock and returns the writes queued under it, for
// writeAll.
func (g *group) release() []*groupWrite {
	ws := g.queued
	g.queued = nil
	g.mu.Unlock()
	return ws
}

// writeAll makes writes released by one goroutine, in order.
func (c *Coordinator) writeAll(ws []*groupWrite) {
	for _, w := range ws {
		ctx, cancel := c.storeCtx()
		w.err = c.write(ctx, w)
		cancel()
	}
}

func (c *Coordinator) write(ctx context.Context, w *groupWrite) error {
	defer close(w.done)
	if w.prev != nil {
		select {
		case <-w.prev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.mu.Lock()
	stale := c.closed || c.epoch != w.g.epoch
	c.mu.Unlock()
	if stale {
		// Leadership changed since the write was decided: the new
		// leader's state is loaded from the store and must not get a
		// record of the old term's group.
		return raftmeta.ErrNotLeader
	}
	if w.del {
		return c.store.DeleteGroup(ctx, w.rec.ID)
	}
	err := c.store.PutGroup(ctx, w.rec)
	if err != nil {
		c.log.Warn("persisting consumer group", "group", w.rec.ID, "state", w.rec.State, "err", err)
	}
	return err
}

// storeErr maps a store error to the Kafka error a client acts on.
func storeErr(err error) *kerr.Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raftmeta.ErrNotLeader):
		return kerr.NotCoordinator
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, raftmeta.ErrClosed), errors.Is(err, raftmeta.ErrStorage):
		// As Kafka maps a failed write to its offsets log: retriable,
		// and the client looks the coordinator up again.
		return kerr.CoordinatorNotAvailable
	case errors.Is(err, raftmeta.ErrUnknownGroup):
		return kerr.GroupIDNotFound
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	return kerr.UnknownServerError
}

func code(e *kerr.Error) int16 {
	if e == nil {
		return 0
	}
	return e.Code
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// parkedJoin/parkedSync answer a request parked until a rebalance step.
func (c *Coordinator) answerParked(m *member, e *kerr.Error) {
	if m.join != nil {
		r := kmsg.NewPtrJoinGroupResponse()
		r.Version = m.joinVersion
		r.ErrorCode = e.Code
		r.Generation = -1
		r.MemberID = m.id
		m.join <- r
		m.join = nil
	}
	if m.sync != nil {
		r := kmsg.NewPtrSyncGroupResponse()
		r.Version = m.syncVersion
		r.ErrorCode = e.Code
		m.sync <- r
		m.sync = nil
	}
}
