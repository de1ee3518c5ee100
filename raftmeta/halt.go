package raftmeta

import (
	"fmt"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Fail-stop on a log this node cannot interpret.
//
// A committed log entry whose command type this node does not know (and
// that is not marked ignorable, see commands.go) was written by a newer
// KOP version. Skipping it would leave this node's state silently
// different from the nodes that applied it, and every read served here
// would be wrong from then on. So the FSM halts instead: it applies
// nothing more, neither that entry nor any later one (each Apply returns
// an error matching ErrHalted and leaves the state untouched), it refuses
// to take or restore snapshots (a snapshot taken now would claim to cover
// entries the state lacks, and Raft would then drop them from the log),
// and the Store reports it through Halted and HaltErr. The library neither
// panics nor exits: what to do is the caller's choice (a broker should
// stop serving and exit, so that an operator upgrades it; see node).
//
// The halt lasts until the process ends. A restart on the same version
// replays the log from the last snapshot and halts again on the same
// entry; a restart on a version that knows the command applies it and goes
// on, which is the upgrade path.

// HaltError says why and where this node's FSM halted. errors.Is(err,
// ErrHalted) holds for it.
type HaltError struct {
	// Index and Term are those of the Raft log entry the FSM refused.
	Index, Term uint64
	// CommandType is the entry's type byte.
	CommandType uint8
}

func (e *HaltError) Error() string {
	return fmt.Sprintf("%s at raft log entry %d (term %d): command type %d (0x%02x) is unknown to this broker; "+
		"a newer KOP version wrote it, and this broker must be upgraded to that version before it can apply the metadata log again",
		ErrHalted, e.Index, e.Term, e.CommandType, e.CommandType)
}

// Unwrap makes errors.Is(err, ErrHalted) true.
func (e *HaltError) Unwrap() error { return ErrHalted }

// haltState is the fsm's halt flag. It is set once, by Apply, and read
// from any goroutine.
type haltState struct {
	err    atomic.Pointer[HaltError]
	halted chan struct{} // closed when err is set
}

func newHaltState() haltState { return haltState{halted: make(chan struct{})} }

// haltErr returns the halt, or nil while the FSM runs.
func (h *haltState) haltErr() *HaltError { return h.err.Load() }

// haltAt halts the FSM on log entry l of unknown type t and returns the
// Apply response for it. Called on the FSM goroutine only.
func (f *fsm) haltAt(l *raft.Log, t commandType) *HaltError {
	e := &HaltError{Index: l.Index, Term: l.Term, CommandType: uint8(t)}
	if !f.halt.err.CompareAndSwap(nil, e) {
		return f.halt.err.Load()
	}
	close(f.halt.halted)
	f.log.Error("raftmeta: HALTED: refusing a raft log entry of a command type this broker does not know; "+
		"it was written by a newer KOP version. This broker applies no more metadata changes and must be upgraded "+
		"(then restarted) to the version the other brokers run",
		"index", l.Index, "term", l.Term, "commandType", uint8(t), "brokerVersions", f.brokerVersions(), "err", e)
	return e
}

// brokerVersions lists the versions the registered brokers reported, for
// the halt message: it tells the operator what to upgrade to.
func (f *fsm) brokerVersions() map[int32]string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make(map[int32]string, len(f.state.brokers))
	for id, b := range f.state.brokers {
		v := b.Version
		if v == "" {
			v = "unknown"
		}
		out[id] = v
	}
	return out
}

// Halted returns a channel that is closed when this node's state machine
// halts: it met a committed log entry of a command type it does not know
// (one added by a newer version) and applies nothing more. From then on
// reads return the state as it was before that entry, writes fail with an
// error matching ErrHalted, and HaltErr says which entry it was. The
// channel never reopens: the broker must be upgraded and restarted. A
// broker should watch it and stop (see the package doc, Compatibility
// rules).
func (s *Store) Halted() <-chan struct{} { return s.fsm.halt.halted }

// HaltErr returns a *HaltError once Halted is closed, naming the Raft index
// and command type this node could not apply; nil before.
func (s *Store) HaltErr() error {
	if e := s.fsm.halt.haltErr(); e != nil {
		return e
	}
	return nil
}
