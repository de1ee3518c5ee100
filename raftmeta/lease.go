package raftmeta

import (
	"time"

	"github.com/hashicorp/raft"
)

// leaseVerifyInterval is how often the Raft leader confirms with a quorum
// that it still leads, renewing its own lease.
const leaseVerifyInterval = 200 * time.Millisecond

// abandonVerifyAfter is how long a leadership check may go unanswered
// before the next one is made instead.
const abandonVerifyAfter = 2 * time.Second

// HoldsLease reports whether this node has been in touch with the Raft
// group within d, so it may still act on what the metadata gives it (such
// as leading partitions): a follower has heard from the leader within d; the
// leader has had its leadership confirmed by a quorum within d. A broker
// without its lease must stop writing: the leader moves its partitions
// once it has not reached it for longer (BrokerSessionTimeout > d), and a
// frozen or cut-off broker then knows it by itself. A single-node group
// always holds it.
func (s *Store) HoldsLease(d time.Duration) bool {
	if s.cfg.singleNode() {
		return true
	}
	if s.closed.Load() {
		return false
	}
	if s.raft.State() == raft.Leader {
		from := s.leaseFrom.Load()
		return from != nil && time.Since(*from) < d
	}
	// A follower or candidate: an election in progress (the leader's id
	// cleared, votes being asked) does not end the lease, the time since
	// the last contact with a leader does.
	return time.Since(s.raft.LastContact()) < d
}

// renewLease records that a quorum confirmed this node's leadership at
// from (a successful check, or winning an election).
func (s *Store) renewLease(from time.Time) {
	if cur := s.leaseFrom.Load(); cur == nil || cur.Before(from) {
		s.leaseFrom.Store(&from)
	}
}

// renewLeases runs for the life of the store: while this node is the
// leader it verifies its leadership with a quorum every
// leaseVerifyInterval and records when the last successful check began.
// One check is outstanding at a time, and the loop never blocks on it:
// hashicorp/raft can leave a check unanswered when leadership is lost
// while it waits for a quorum, and Close must not wait for that.
func (s *Store) renewLeases() {
	defer s.wg.Done()
	t := time.NewTicker(leaseVerifyInterval)
	defer t.Stop()
	type check struct {
		started time.Time
		err     error
	}
	var pending chan check // the outstanding check's result
	var started time.Time
	for {
		select {
		case <-s.done:
			return
		case c := <-pending:
			pending = nil
			if c.err == nil {
				s.renewLease(c.started)
			}
			continue
		case <-t.C:
		}
		if pending != nil && time.Since(started) < abandonVerifyAfter {
			continue
		}
		pending = nil // an unanswered check is abandoned (its goroutine may stay blocked: one per abandoned check)
		if s.raft.State() != raft.Leader {
			continue
		}
		started = time.Now()
		f := s.raft.VerifyLeader()
		pending = make(chan check, 1)
		go func(ch chan check, started time.Time) { ch <- check{started, f.Error()} }(pending, started)
	}
}
