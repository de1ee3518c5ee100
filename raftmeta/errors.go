package raftmeta

import (
	"errors"
	"fmt"
)

// Errors returned by Store writes (and by the FSM as Apply responses).
// They are wrapped with context; test them with errors.Is.
var (
	// ErrNotLeader: this node is not the Raft leader. The error is a
	// *NotLeaderError naming the leader when one is known. Retriable.
	ErrNotLeader = errors.New("raftmeta: not the raft leader")
	// ErrTopicExists: CreateTopic for a name that exists.
	ErrTopicExists = errors.New("raftmeta: topic already exists")
	// ErrUnknownTopic: the named topic does not exist.
	ErrUnknownTopic = errors.New("raftmeta: unknown topic")
	// ErrUnknownPartition: the topic exists but not the partition.
	ErrUnknownPartition = errors.New("raftmeta: unknown partition")
	// ErrInvalidPartitions: a partition count that is not positive, too
	// large, or (CreatePartitions) not above the current count.
	ErrInvalidPartitions = errors.New("raftmeta: invalid partition count")
	// ErrInvalidTopic: a topic name that breaks Kafka's rules.
	ErrInvalidTopic = errors.New("raftmeta: invalid topic name")
	// ErrInvalidCommand: a command that cannot be decoded, has an unknown
	// type, or carries invalid field values.
	ErrInvalidCommand = errors.New("raftmeta: invalid command")
	// ErrUnknownGroup: the consumer group has neither metadata nor
	// committed offsets.
	ErrUnknownGroup = errors.New("raftmeta: unknown group")
	// ErrProducerIDsExhausted: the int64 producer-id space is used up.
	ErrProducerIDsExhausted = errors.New("raftmeta: producer ids exhausted")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("raftmeta: store closed")
	// ErrStorage: the Raft log could not be written to disk (disk full,
	// read-only, I/O error). The write did not happen; this node steps
	// down and leads again once it can write, so a retry may succeed.
	ErrStorage = errors.New("raftmeta: the metadata log could not be written")
	// ErrHalted: this node's state machine met a log entry it cannot
	// interpret (a command type of a newer version) and applies nothing
	// more; the error is a *HaltError naming the entry. Not retriable on
	// this node: the broker must be upgraded (see Store.Halted).
	ErrHalted = errors.New("raftmeta: metadata state machine halted")
)

// NotLeaderError is returned by writes on a node that is not the leader.
// errors.Is(err, ErrNotLeader) holds for it.
type NotLeaderError struct {
	// LeaderID and LeaderAddress name the current leader when Known.
	LeaderID      int32
	LeaderAddress string // the leader's Raft address
	Known         bool
	// Cause is the underlying Raft error, if any. raft.ErrLeadershipLost
	// means the command may or may not have been committed.
	Cause error
}

func (e *NotLeaderError) Error() string {
	msg := ErrNotLeader.Error()
	if e.Known {
		msg = fmt.Sprintf("%s (leader is node %d at %s)", msg, e.LeaderID, e.LeaderAddress)
	} else {
		msg += " (no leader known)"
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Unwrap returns the Raft cause.
func (e *NotLeaderError) Unwrap() error { return e.Cause }
