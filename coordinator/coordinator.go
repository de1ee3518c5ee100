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
}

type status int

const (
	notLeader status = iota
	loading
	active
)

// Coordinator coordinates every consumer group while this broker is the
// Raft leader.
type Coordinator struct {
	cfg   Config
	store Store
	log   *slog.Logger

	mu     sync.Mutex
	status status
	epoch  uint64 // bumped on each leadership change; stale timers check it
	closed bool
	groups map[string]*group

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a coordinator; Start makes it follow Raft leadership.
func New(store Store, cfg Config) *Coordinator {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Coordinator{cfg: cfg, store: store, log: cfg.Logger, groups: map[string]*group{}, ctx: ctx, cancel: cancel}
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
	c.resignLocked()
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

func (c *Coordinator) watchLeadership() {
	for {
		ch := c.store.LeaderChanged()
		leader := c.store.IsLeader()
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
			c.resignLocked()
		}
		c.mu.Unlock()
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
			for _, rg := range c.store.Groups() {
				g := c.restore(rg)
				c.groups[g.id] = g
			}
			c.status = active
			c.log.Info("consumer groups loaded", "groups", len(c.groups))
			c.mu.Unlock()
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

// resignLocked drops every group, answering parked requests.
func (c *Coordinator) resignLocked() {
	c.status = notLeader
	c.epoch++
	for _, g := range c.groups {
		g.stopTimers()
		for _, m := range g.members {
			c.answerParked(m, kerr.NotCoordinator)
		}
		g.state = Dead
	}
	c.groups = map[string]*group{}
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
	n, err := c.store.ExpireOffsets(ctx, time.Now().UnixMilli(), c.cfg.OffsetsRetention.Milliseconds())
	if err != nil {
		c.log.Warn("expiring offsets", "err", err)
		return
	}
	if n > 0 {
		c.log.Info("expired committed offsets", "count", n)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, g := range c.groups {
		if g.state != Empty || len(g.members) > 0 || len(g.pending) > 0 {
			continue
		}
		if _, ok := c.store.Group(id); !ok {
			g.stopTimers()
			g.state = Dead
			delete(c.groups, id)
		}
	}
}

// checkLocked returns the error every group request gets when this broker
// cannot coordinate now.
func (c *Coordinator) checkLocked() *kerr.Error {
	switch {
	case c.closed || c.status == notLeader || !c.store.IsLeader():
		return kerr.NotCoordinator
	case c.status == loading:
		return kerr.CoordinatorLoadInProgress
	}
	return nil
}

// after runs f under the lock after d, unless leadership changed since or
// g was replaced or removed.
func (c *Coordinator) after(g *group, d time.Duration, f func()) *time.Timer {
	epoch := c.epoch
	return time.AfterFunc(d, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.epoch != epoch || c.closed || c.groups[g.id] != g {
			return
		}
		f()
	})
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

// persistLocked writes g's durable record: Stable with assignments, or Empty.
func (c *Coordinator) persistLocked(ctx context.Context, g *group) error {
	rec := g.record(time.Now().UnixMilli())
	err := c.store.PutGroup(ctx, rec)
	if err != nil {
		c.log.Warn("persisting consumer group", "group", g.id, "state", rec.State, "err", err)
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
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.Is(err, raftmeta.ErrClosed):
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
