package raftmeta

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

const (
	raftDirName        = "raft"
	logStoreFileName   = "raft-log.db"
	stableFileName     = "raft-stable.db"
	snapshotsRetained  = 2
	logCacheSize       = 512
	defaultLockTimeout = 5 * time.Second
	leaderPollInterval = 10 * time.Millisecond
)

// Store is one node of the metadata Raft group: the Raft instance, its
// stores and the FSM. All methods are safe for concurrent use.
type Store struct {
	cfg  Config
	log  *slog.Logger
	fsm  *fsm
	raft *raft.Raft

	trans       *raft.NetworkTransport
	mux         *mux
	logStore    *raftboltdb.BoltStore
	stableStore *raftboltdb.BoltStore

	commits commitBatcher // coalesces CommitOffsets calls
	metrics *raftMetrics

	observer *raft.Observer
	leaderMu sync.Mutex
	leaderCh chan struct{} // closed and replaced on leadership changes
	// unreachable, on the leader: the voters Raft's heartbeats fail to
	// reach, and since when (their last contact, or when this node
	// became leader). Guarded by leaderMu; cleared on leadership changes.
	unreachable map[int32]time.Time
	leaderSince time.Time
	// prevLeader is the last other node seen leading, and lastHeard, set
	// when this node becomes leader, is when it last heard from it as a
	// follower: a leader that died is unreachable since then, not since
	// the election, so its partitions move without a second full wait.
	prevLeader    int32
	hasPrevLeader bool
	lastHeard     map[int32]time.Time

	leaseFrom atomic.Pointer[time.Time] // start of the last confirmed leadership check

	closed    atomic.Bool
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Open starts a Raft node on cfg. It bootstraps a new cluster when
// cfg.Bootstrap is set and DataDir holds no Raft state; otherwise it
// recovers from its log and snapshots. It does not wait for a leader: call
// WaitForLeader.
func Open(ctx context.Context, cfg Config) (_ *Store, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("raftmeta: open: %w", err)
	}
	dir := filepath.Join(cfg.DataDir, raftDirName)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("raftmeta: creating %s: %w", dir, err)
	}
	s := &Store{
		cfg:         cfg,
		log:         cfg.Logger, // the caller names the component; messages say "raftmeta:"
		leaderCh:    make(chan struct{}),
		unreachable: map[int32]time.Time{},
		done:        make(chan struct{}),
	}
	s.metrics = newRaftMetrics(s)
	defer func() {
		if err != nil {
			err = errors.Join(err, s.closeResources())
		}
	}()

	// bbolt takes a file lock; a second process on the same DataDir waits
	// for it, bounded here by ctx so it fails with a clear error.
	lockTimeout := defaultLockTimeout
	if d, ok := ctx.Deadline(); ok {
		lockTimeout = max(time.Until(d), time.Millisecond)
	}
	openBolt := func(name string) (*raftboltdb.BoltStore, error) {
		path := filepath.Join(dir, name)
		st, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bbolt.Options{Timeout: lockTimeout}})
		if errors.Is(err, bbolt.ErrTimeout) {
			return nil, fmt.Errorf("raftmeta: %s is locked by another process (is another broker using DataDir %s?): %w", path, cfg.DataDir, err)
		}
		if err != nil {
			return nil, fmt.Errorf("raftmeta: opening %s: %w", path, err)
		}
		return st, nil
	}
	if s.logStore, err = openBolt(logStoreFileName); err != nil {
		return nil, err
	}
	if s.stableStore, err = openBolt(stableFileName); err != nil {
		return nil, err
	}
	logs, err := raft.NewLogCache(logCacheSize, s.logStore)
	if err != nil {
		return nil, fmt.Errorf("raftmeta: log cache: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, snapshotsRetained, newHCLogAdapter(cfg.Logger, "raft-snapshots"))
	if err != nil {
		return nil, fmt.Errorf("raftmeta: snapshot store in %s: %w", dir, err)
	}
	hasState, err := raft.HasExistingState(s.logStore, s.stableStore, snaps)
	if err != nil {
		return nil, fmt.Errorf("raftmeta: checking for existing raft state in %s: %w", dir, err)
	}
	if s.trans, s.mux, err = newTransport(cfg.BindAddress, cfg.AdvertisedAddress, cfg.TLS, cfg.PeerTLS, newHCLogAdapter(cfg.Logger, "raft-net"), s.log); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("raftmeta: open: %w", err)
	}

	s.fsm = newFSM(s.log)
	s.raft, err = raft.NewRaft(cfg.raftConfig(), s.fsm, logs, s.stableStore, snaps, s.trans)
	if err != nil {
		return nil, fmt.Errorf("raftmeta: starting raft: %w", err)
	}
	s.mux.handleForwards(s.serveForward)

	switch {
	case hasState:
		s.log.Info("raftmeta: recovering existing raft state", "dir", dir)
	case cfg.Bootstrap:
		conf := cfg.bootstrapConfiguration()
		s.log.Info("raftmeta: bootstrapping new cluster", "voters", len(conf.Servers))
		if err := s.raft.BootstrapCluster(conf).Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			return nil, fmt.Errorf("raftmeta: bootstrapping cluster: %w", err)
		}
	default:
		s.log.Info("raftmeta: no raft state and bootstrap disabled; waiting to be added to a cluster")
	}

	obsCh := make(chan raft.Observation, 16)
	s.observer = raft.NewObserver(obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.LeaderObservation, raft.RaftState, raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	s.raft.RegisterObserver(s.observer)
	s.wg.Add(2)
	go s.watchLeadership(obsCh)
	go s.renewLeases()
	return s, nil
}

func (s *Store) watchLeadership(obs <-chan raft.Observation) {
	defer s.wg.Done()
	for {
		select {
		case o := <-obs:
			s.leaderMu.Lock()
			switch d := o.Data.(type) {
			case raft.FailedHeartbeatObservation:
				if id, ok := parseServerID(d.PeerID); ok && s.unreachable[id].IsZero() {
					since := d.LastContact
					if since.IsZero() || since.Before(s.leaderSince) {
						since = s.leaderSince // never heard from as leader
					}
					// The previous leader failing right after this
					// node's election has been silent since this node
					// last heard from it as a follower. (Raft counts
					// a peer as contacted when replication to it
					// starts, so LastContact cannot tell.)
					if heard, ok := s.lastHeard[id]; ok && heard.Before(since) && time.Since(s.leaderSince) < 5*s.cfg.HeartbeatTimeout {
						since = heard
					}
					s.unreachable[id] = since
				}
			case raft.ResumedHeartbeatObservation:
				if id, ok := parseServerID(d.PeerID); ok {
					delete(s.unreachable, id)
				}
			case raft.LeaderObservation:
				if id, ok := parseServerID(d.LeaderID); ok && id != s.cfg.NodeID {
					s.prevLeader, s.hasPrevLeader = id, true
				}
				s.leadershipChangedLocked()
			case raft.RaftState:
				s.lastHeard = nil
				if d == raft.Leader {
					// Elected by a quorum just now: that confirms the
					// lease until the first check does.
					s.renewLease(time.Now())
					if s.hasPrevLeader {
						s.lastHeard = map[int32]time.Time{s.prevLeader: s.raft.LastContact()}
					}
				}
				s.leadershipChangedLocked()
			}
			s.leaderMu.Unlock()
		case <-s.done:
			return
		}
	}
}

// leadershipChangedLocked restarts the leader's view of unreachable
// voters and wakes LeaderChanged watchers.
func (s *Store) leadershipChangedLocked() {
	clear(s.unreachable)
	s.leaderSince = time.Now()
	close(s.leaderCh)
	s.leaderCh = make(chan struct{})
}

// Close shuts Raft down (without handing leadership over) and closes the
// stores. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		s.closeCommits()
		s.closeErr = s.closeResources()
	})
	return s.closeErr
}

// closeResources releases whatever Open got to; it also serves Open's
// error path.
func (s *Store) closeResources() error {
	var errs []error
	if s.raft != nil {
		if err := s.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("raftmeta: raft shutdown: %w", err))
		}
		if s.observer != nil {
			s.raft.DeregisterObserver(s.observer)
		}
	}
	close(s.done)
	s.wg.Wait()
	if s.trans != nil {
		if err := s.trans.Close(); err != nil {
			errs = append(errs, fmt.Errorf("raftmeta: closing transport: %w", err))
		}
	}
	for _, st := range []*raftboltdb.BoltStore{s.logStore, s.stableStore} {
		if st != nil {
			if err := st.Close(); err != nil {
				errs = append(errs, fmt.Errorf("raftmeta: closing bolt store: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// WaitForLeader returns once a leader is known and this node has applied
// what it knows to be committed (on the leader, after a Raft barrier, so
// reads then reflect every earlier write). It returns ctx's error if that
// does not happen in time.
func (s *Store) WaitForLeader(ctx context.Context) error {
	t := time.NewTicker(leaderPollInterval)
	defer t.Stop()
	for {
		if s.closed.Load() {
			return ErrClosed
		}
		if err := s.HaltErr(); err != nil {
			return err
		}
		if _, id := s.raft.LeaderWithID(); id != "" {
			if s.raft.State() == raft.Leader {
				if err := s.Barrier(ctx); err == nil {
					return nil
				} else if ctx.Err() != nil {
					return err
				}
			} else if s.raft.AppliedIndex() >= s.raft.CommitIndex() {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("raftmeta: waiting for a raft leader: %w", context.Cause(ctx))
		case <-s.done:
			return ErrClosed
		case <-t.C:
		}
	}
}

// Barrier waits until every command committed before it has been applied
// to this node's state. Leader only.
func (s *Store) Barrier(ctx context.Context) error {
	timeout, err := s.timeout(ctx)
	if err != nil {
		return err
	}
	if err := s.wait(ctx, s.raft.Barrier(timeout)); err != nil {
		return s.raftError("barrier", err)
	}
	return nil
}

// Sync makes this node's state at least as new as the leader's was when
// Sync was called (a read index): on the leader it confirms leadership
// with a quorum and waits until everything committed is applied; a
// follower forwards a no-op command (cmdSync) to the leader and waits
// until it has applied it. A node that was frozen or cut off and has just
// come back may have heard from the leader again before it applied what
// changed meanwhile: after Sync, what it reads includes those changes.
func (s *Store) Sync(ctx context.Context) error {
	if s.cfg.singleNode() {
		return nil
	}
	if s.raft.State() == raft.Leader {
		if err := s.wait(ctx, s.raft.VerifyLeader()); err != nil {
			return s.raftError("sync", err)
		}
		return s.Barrier(ctx)
	}
	_, err := s.propose(ctx, &syncCmd{})
	return err
}

// TransferLeadership hands Raft leadership to another voter and waits
// until one has it (leader only), so a leader shutting down leaves no
// election timeout behind.
func (s *Store) TransferLeadership(ctx context.Context) error {
	if err := s.wait(ctx, s.raft.LeadershipTransfer()); err != nil {
		return s.raftError("leadership transfer", err)
	}
	return nil
}

// IsLeader reports whether this node is the Raft leader now.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// LeaderID returns the current leader's node id, if one is known.
func (s *Store) LeaderID() (int32, bool) {
	_, id := s.raft.LeaderWithID()
	if id == "" {
		return 0, false
	}
	return parseServerID(id)
}

// Changed returns a channel that is closed after the next command that
// changes the state (or a snapshot restore), except offset commits: those
// come at consumer pace and are read when needed, not watched. Get a fresh
// channel after each wake-up, then re-read.
func (s *Store) Changed() <-chan struct{} { return s.fsm.Changed() }

// LeaderChanged returns a channel that is closed after the next leadership
// change seen by this node (it became or stopped being leader, or learnt of
// a new leader).
func (s *Store) LeaderChanged() <-chan struct{} {
	s.leaderMu.Lock()
	defer s.leaderMu.Unlock()
	return s.leaderCh
}

// Unreachable returns, on the Raft leader, the voters its heartbeats have
// been failing to reach and since when they were last heard from; empty on
// a follower. Deciding what to do about them is the caller's.
func (s *Store) Unreachable() map[int32]time.Time {
	s.leaderMu.Lock()
	defer s.leaderMu.Unlock()
	if s.raft.State() != raft.Leader {
		return nil
	}
	return maps.Clone(s.unreachable)
}

// Brokers returns the registered brokers sorted by id.
func (s *Store) Brokers() []Broker { return s.fsm.brokers() }

// Topic returns the named topic.
func (s *Store) Topic(name string) (Topic, bool) { return s.fsm.topic(name) }

// TopicByID returns the topic with this id.
func (s *Store) TopicByID(id [16]byte) (Topic, bool) { return s.fsm.topicByID(id) }

// Topics returns every topic sorted by name.
func (s *Store) Topics() []Topic { return s.fsm.topics() }

// RegisterBroker adds the broker or replaces its registration.
// A cluster without an id adopts a fresh random one with the first
// registration.
func (s *Store) RegisterBroker(ctx context.Context, b Broker) error {
	b.Fenced = false
	cmd := &registerBrokerCmd{Broker: b.clone()}
	if s.ClusterID() == "" {
		id, err := NewTopicID()
		if err != nil {
			return err
		}
		// Kafka cluster ids are 22-character URL-safe base64 UUIDs.
		cmd.ClusterID = base64.RawURLEncoding.EncodeToString(id[:])
	}
	_, err := s.propose(ctx, cmd)
	return err
}

// SetBrokerFenced marks a registered broker fenced (its partitions were
// moved away because it could not be reached) or not.
func (s *Store) SetBrokerFenced(ctx context.Context, id int32, fenced bool) error {
	_, err := s.propose(ctx, &fenceBrokerCmd{ID: id, Fenced: fenced})
	return err
}

// ClusterID is the cluster's id, set by the first broker registration;
// empty before it.
func (s *Store) ClusterID() string { return s.fsm.clusterID() }

// CreateTopic creates a topic with a fresh random id. leader(p) names the
// leader of partition p (nil: NoLeader). configs are the explicitly set
// configs. Errors: ErrTopicExists, ErrInvalidTopic, ErrInvalidPartitions.
func (s *Store) CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string, leader func(partition int32) int32) (Topic, error) {
	if err := validatePartitionCount(int(partitions)); err != nil {
		return Topic{}, fmt.Errorf("raftmeta: CreateTopic %q: %w", name, err)
	}
	id, err := NewTopicID()
	if err != nil {
		return Topic{}, err
	}
	c := &createTopicCmd{
		Name:      name,
		ID:        id,
		Leaders:   leaders(0, partitions, leader),
		Configs:   cloneMap(configs),
		CreatedMs: time.Now().UnixMilli(),
	}
	resp, err := s.propose(ctx, c)
	if err != nil {
		return Topic{}, err
	}
	t, ok := resp.(Topic)
	if !ok {
		return Topic{}, fmt.Errorf("raftmeta: CreateTopic: unexpected response %T", resp)
	}
	return t, nil
}

// DeleteTopic deletes a topic. Errors: ErrUnknownTopic.
func (s *Store) DeleteTopic(ctx context.Context, name string) error {
	_, err := s.propose(ctx, &deleteTopicCmd{Name: name})
	return err
}

// CreatePartitions grows the topic to total partitions; leader(p) names
// the leader of each new partition p (nil: NoLeader). Errors:
// ErrUnknownTopic, ErrInvalidPartitions (total not above the current count).
func (s *Store) CreatePartitions(ctx context.Context, name string, total int32, leader func(int32) int32) error {
	if err := validatePartitionCount(int(total)); err != nil {
		return fmt.Errorf("raftmeta: CreatePartitions %q: %w", name, err)
	}
	// The leaders are picked for the partitions that are new as this node
	// sees the topic; Apply rejects the command if the count moved since.
	t, ok := s.fsm.topic(name)
	if !ok {
		return fmt.Errorf("raftmeta: CreatePartitions: topic %q: %w", name, ErrUnknownTopic)
	}
	current := int32(len(t.Partitions))
	if total <= current {
		return fmt.Errorf("raftmeta: CreatePartitions: topic %q has %d partitions, asked for %d: %w", name, current, total, ErrInvalidPartitions)
	}
	_, err := s.propose(ctx, &createPartitionsCmd{Name: name, Total: total, Leaders: leaders(current, total, leader)})
	return err
}

// SetTopicConfigs replaces the topic's explicitly set configs (nil or
// empty clears them). Errors: ErrUnknownTopic.
func (s *Store) SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error {
	_, err := s.propose(ctx, &setTopicConfigsCmd{Name: name, Configs: cloneMap(configs)})
	return err
}

// SetPartitionLeader records leader (a broker id or NoLeader) for the
// partition and returns the new leader epoch, one above the previous.
// Errors: ErrUnknownTopic, ErrUnknownPartition.
func (s *Store) SetPartitionLeader(ctx context.Context, topic string, partition, leader int32) (epoch int32, err error) {
	resp, err := s.propose(ctx, &setPartitionLeaderCmd{Topic: topic, Partition: partition, Leader: leader})
	if err != nil {
		return 0, err
	}
	epoch, ok := resp.(int32)
	if !ok {
		return 0, fmt.Errorf("raftmeta: SetPartitionLeader: unexpected response %T", resp)
	}
	return epoch, nil
}

// AllocateProducerIDs reserves count (1..MaxProducerIDBlock) consecutive
// producer ids and returns the first. Blocks never overlap, also across
// restarts and leader changes.
func (s *Store) AllocateProducerIDs(ctx context.Context, count int64) (first int64, err error) {
	resp, err := s.propose(ctx, &allocateProducerIDsCmd{Count: count})
	if err != nil {
		return 0, err
	}
	first, ok := resp.(int64)
	if !ok {
		return 0, fmt.Errorf("raftmeta: AllocateProducerIDs: unexpected response %T", resp)
	}
	return first, nil
}

func leaders(from, to int32, leader func(int32) int32) []int32 {
	out := make([]int32, 0, to-from)
	for p := from; p < to; p++ {
		l := NoLeader
		if leader != nil {
			l = leader(p)
		}
		out = append(out, l)
	}
	return out
}

// propose is the single choke point for writes: validate, encode, apply
// through Raft, unwrap the FSM's response (an error or a result value).
func (s *Store) propose(ctx context.Context, c command) (any, error) {
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := s.HaltErr(); err != nil {
		return nil, fmt.Errorf("raftmeta: %s: %w", c.commandType(), err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("raftmeta: %s: %w", c.commandType(), err)
	}
	data, err := encodeCommand(c)
	if err != nil {
		return nil, err
	}
	if s.raft.State() != raft.Leader {
		return s.forward(ctx, c.commandType(), data)
	}
	resp, _, err := s.applyLocal(ctx, c.commandType(), data)
	return resp, err
}

// applyLocal applies encoded command data through the local Raft leader
// and says at which log index.
func (s *Store) applyLocal(ctx context.Context, t commandType, data []byte) (any, uint64, error) {
	timeout, err := s.timeout(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("raftmeta: %s: %w", t, err)
	}
	if err := s.prepare(ctx, t, data); err != nil {
		return nil, 0, fmt.Errorf("raftmeta: %s: %w", t, err)
	}
	start := time.Now()
	f := s.raft.Apply(data, timeout)
	if err := s.wait(ctx, f); err != nil {
		return nil, 0, s.raftError(t.String(), err)
	}
	s.metrics.applyTime.WithLabelValues(t.String()).Observe(time.Since(start).Seconds())
	resp := f.Response()
	if err, ok := resp.(error); ok {
		return nil, f.Index(), fmt.Errorf("raftmeta: %w", err)
	}
	return resp, f.Index(), nil
}

// timeout derives Raft's enqueue timeout from ctx.
func (s *Store) timeout(ctx context.Context) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond), nil
	}
	return s.cfg.ApplyTimeout, nil
}

// wait blocks until f resolves or ctx is done. Raft futures cannot be
// cancelled: if ctx ends first, the command may still be applied later.
func (s *Store) wait(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("gave up waiting, the outcome is unknown: %w", context.Cause(ctx))
	}
}

func (s *Store) raftError(op string, err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrAbortedByRestore):
		return s.notLeader(err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return fmt.Errorf("raftmeta: %s: %w", op, ErrClosed)
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT), errors.Is(err, syscall.EROFS), errors.Is(err, syscall.EIO),
		// hashicorp/raft reports a failed log write as text only.
		strings.Contains(err.Error(), "unable to store logs"):
		return fmt.Errorf("raftmeta: %s: %w: %w", op, ErrStorage, err)
	}
	return fmt.Errorf("raftmeta: %s: %w", op, err)
}

func (s *Store) notLeader(cause error) *NotLeaderError {
	e := &NotLeaderError{Cause: cause}
	addr, id := s.raft.LeaderWithID()
	if n, ok := parseServerID(id); ok {
		e.LeaderID, e.LeaderAddress, e.Known = n, string(addr), true
	}
	return e
}
