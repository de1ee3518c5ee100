package raftmeta

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// The Store's consumer-group API: group metadata and committed offsets,
// written through Raft and read from the local state.

// PutGroup stores (replaces) a group's metadata. Errors: ErrInvalidCommand
// for an empty id, a state other than GroupStateEmpty or GroupStateStable,
// or empty or duplicate member ids.
func (s *Store) PutGroup(ctx context.Context, g Group) error {
	_, err := s.propose(ctx, &putGroupCmd{Group: g.clone()})
	return err
}

// DeleteGroup removes a group's metadata and all its committed offsets.
// Errors: ErrUnknownGroup if it has neither.
func (s *Store) DeleteGroup(ctx context.Context, id string) error {
	_, err := s.propose(ctx, &deleteGroupCmd{ID: id})
	return err
}

// DeleteOffsets removes the group's committed offsets of keys; keys with no
// offset are ignored. Errors: ErrUnknownGroup if the group has neither
// metadata nor offsets.
func (s *Store) DeleteOffsets(ctx context.Context, group string, keys []OffsetKey) error {
	_, err := s.propose(ctx, &deleteOffsetsCmd{Group: group, Keys: slices.Clone(keys)})
	return err
}

// ExpireOffsets applies the offset retention rule at nowMs (Unix
// milliseconds) with retentionMs (offsets.retention.minutes), in one
// command, and returns how many offsets it removed:
//
//   - offsets of Stable groups are kept;
//   - an offset of a group with no metadata expires once retentionMs have
//     passed since its commit;
//   - an offset of an Empty group expires once retentionMs have passed
//     since its commit and since the group became empty (its UpdatedMs),
//     as Kafka does since KIP-211;
//   - Empty groups left with no offsets are deleted.
//
// The caller's clock travels in the command, so every node removes the
// same offsets.
func (s *Store) ExpireOffsets(ctx context.Context, nowMs, retentionMs int64) (int, error) {
	resp, err := s.propose(ctx, &expireOffsetsCmd{NowMs: nowMs, RetentionMs: retentionMs})
	if err != nil {
		return 0, err
	}
	n, ok := resp.(int)
	if !ok {
		return 0, fmt.Errorf("raftmeta: ExpireOffsets: unexpected response %T", resp)
	}
	return n, nil
}

// Group returns a copy of the group's metadata.
func (s *Store) Group(id string) (Group, bool) { return s.fsm.group(id) }

// Groups returns a copy of every group's metadata, sorted by id. Groups
// with only committed offsets are not listed (see GroupIDs).
func (s *Store) Groups() []Group { return s.fsm.groups() }

// Offsets returns a copy of the group's committed offsets (empty, not
// nil, if it has none).
func (s *Store) Offsets(group string) map[OffsetKey]CommittedOffset { return s.fsm.offsets(group) }

// Offset returns the group's committed offset of one partition.
func (s *Store) Offset(group string, k OffsetKey) (CommittedOffset, bool) {
	return s.fsm.offset(group, k)
}

// GroupIDs returns the id of every group with metadata or committed
// offsets, sorted.
func (s *Store) GroupIDs() []string { return s.fsm.groupIDs() }

// CommitOffsets durably stores offsets of one group, whether or not it has
// metadata (simple consumers commit with generation -1 and none). A commit
// whose CommitTimeMs is 0 gets the current time. A later commit of the
// same partition replaces the earlier one.
//
// Concurrent calls are coalesced into one Raft entry (group commit): the
// first call is proposed at once, calls arriving while it is in flight
// form the next entry, and so on, with one entry in flight at a time. A
// call returns when the entry holding its commit has been applied, or
// with that entry's error. If ctx ends first the call returns ctx's error
// and the commit may still be applied.
//
// Errors: ErrInvalidCommand (empty group id, more than MaxOffsetCommits
// offsets, negative partition, ...), ErrInvalidTopic, ErrNotLeader,
// ErrClosed.
func (s *Store) CommitOffsets(ctx context.Context, group string, commits []OffsetCommit) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("raftmeta: %s: %w", cmdCommitOffsets, err)
	}
	if len(commits) == 0 {
		if err := validateGroupID(group); err != nil {
			return fmt.Errorf("raftmeta: %s: %w", cmdCommitOffsets, err)
		}
		return nil
	}
	gc := groupCommit{Group: group, Offsets: slices.Clone(commits)}
	now := time.Now().UnixMilli()
	for i := range gc.Offsets {
		if gc.Offsets[i].CommitTimeMs == 0 {
			gc.Offsets[i].CommitTimeMs = now
		}
	}
	if err := gc.validate(); err != nil {
		return fmt.Errorf("raftmeta: %s: %w", cmdCommitOffsets, err)
	}
	// Encoding here, on the caller's goroutine, keeps the batch's one
	// proposer to concatenating bytes.
	body, err := json.Marshal(&gc)
	if err != nil {
		return fmt.Errorf("raftmeta: %s: encoding group %q: %w", cmdCommitOffsets, group, err)
	}
	if s.raft.State() != raft.Leader {
		// Forwarding to the leader plugs in here, as in propose.
		return s.notLeader(nil)
	}
	r := &commitRequest{body: body, commits: len(gc.Offsets), done: make(chan error, 1)}
	if err := s.enqueueCommit(r); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		r.abandoned.Store(true) // not proposed yet: it will not be
		return fmt.Errorf("raftmeta: %s: gave up waiting, the commit may still be applied: %w", cmdCommitOffsets, ctx.Err())
	}
}

// Bounds of one coalesced CommitOffsets entry. A single call larger than
// these (up to MaxOffsetCommits) goes alone in its entry.
const (
	commitBatchMaxCommits = 10_000
	commitBatchMaxBytes   = 4 << 20
)

// commitBatcher queues CommitOffsets calls for the one goroutine that
// proposes them (flushCommits). The zero value is ready to use.
type commitBatcher struct {
	mu      sync.Mutex
	queue   []*commitRequest
	running bool // a flushCommits goroutine owns the queue
	closed  bool
}

// commitRequest is one CommitOffsets call waiting for its entry.
type commitRequest struct {
	body      []byte // the JSON of its groupCommit
	commits   int
	abandoned atomic.Bool // the caller gave up: drop it if not yet proposed
	done      chan error  // buffered: the proposer never blocks on it
}

// enqueueCommit queues r and starts the proposer if none runs.
func (s *Store) enqueueCommit(r *commitRequest) error {
	b := &s.commits
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.queue = append(b.queue, r)
	if !b.running {
		b.running = true
		s.wg.Add(1) // Close marks b closed before it waits on s.wg
		go s.flushCommits()
	}
	return nil
}

// flushCommits proposes queued commits, one entry at a time, until the
// queue is empty.
func (s *Store) flushCommits() {
	defer s.wg.Done()
	b := &s.commits
	for {
		b.mu.Lock()
		batch := b.takeLocked()
		if len(batch) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		err := s.applyCommitBatch(batch)
		for _, r := range batch {
			r.done <- err
		}
	}
}

// takeLocked removes the next batch from the queue: the oldest requests,
// skipping abandoned ones, within the batch bounds (at least one request).
func (b *commitBatcher) takeLocked() []*commitRequest {
	var batch []*commitRequest
	commits, size, i := 0, 0, 0
	for ; i < len(b.queue); i++ {
		r := b.queue[i]
		if r.abandoned.Load() {
			continue
		}
		if len(batch) > 0 && (commits+r.commits > commitBatchMaxCommits || size+len(r.body) > commitBatchMaxBytes) {
			break
		}
		batch = append(batch, r)
		commits += r.commits
		size += len(r.body) + 1
	}
	clear(b.queue[:i]) // let the taken requests be collected
	b.queue = b.queue[i:]
	if len(b.queue) == 0 {
		b.queue = nil
	}
	return batch
}

// closeCommits refuses new commits and fails the queued ones. The entry in
// flight, if any, resolves through Raft's shutdown.
func (s *Store) closeCommits() {
	b := &s.commits
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for _, r := range b.queue {
		r.done <- ErrClosed
	}
	b.queue = nil
}

// encodeCommitBatch builds the log bytes of a commitOffsetsCmd from its
// entries' JSON: the same document encodeCommand would write.
func encodeCommitBatch(batch []*commitRequest) []byte {
	n := len(`{"groups":[]}`) + 1
	for _, r := range batch {
		n += len(r.body) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, byte(cmdCommitOffsets))
	out = append(out, `{"groups":[`...)
	for i, r := range batch {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r.body...)
	}
	return append(out, "]}"...)
}

// applyCommitBatch applies one batch through Raft and returns its outcome,
// shared by every request in it.
func (s *Store) applyCommitBatch(batch []*commitRequest) error {
	if h := s.fsm.halt.haltErr(); h != nil {
		// This leader would not apply the entry (halt.go): keep it out
		// of the log rather than commit offsets its reads do not show.
		return fmt.Errorf("raftmeta: %s: %w", cmdCommitOffsets, h)
	}
	start := time.Now()
	f := s.raft.Apply(encodeCommitBatch(batch), s.cfg.ApplyTimeout)
	defer func() {
		s.metrics.applyTime.WithLabelValues(cmdCommitOffsets.String()).Observe(time.Since(start).Seconds())
	}()
	// Raft may drop a future unanswered when it shuts down mid-apply, so
	// wait for Close too.
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	var err error
	select {
	case err = <-errc:
	case <-s.done:
		return fmt.Errorf("raftmeta: %s: %w", cmdCommitOffsets, ErrClosed)
	}
	if err != nil {
		return s.raftError(cmdCommitOffsets.String(), err)
	}
	if err, ok := f.Response().(error); ok {
		return fmt.Errorf("raftmeta: %w", err)
	}
	return nil
}
