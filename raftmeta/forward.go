package raftmeta

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// Forwarding: a follower sends an encoded command to the leader over the
// Raft port (a connection whose first byte is connForward), the leader
// applies it through Raft and answers with the result and its log index,
// and the follower waits until it has applied that index itself, so its
// own reads see the write. One command per connection: metadata writes
// are rare, and the hot one (CommitOffsets) is made on the leader, where
// groups are coordinated.
//
// Frames are a big-endian uint32 length and the bytes: the command as it
// goes into the Raft log, then the JSON forwardResponse.

// maxForwardBytes bounds a forwarded command or response.
const maxForwardBytes = 16 << 20

// forwardResponse is the leader's answer to a forwarded command.
type forwardResponse struct {
	Index uint64 `json:"index,omitempty"`
	// Kind names Result's type: "" (no result), "topic", "int", "int32",
	// "int64".
	Kind   string          `json:"kind,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	// Error is the failure's text; Sentinel names the error of this
	// package it matches, so errors.Is works on the follower too.
	Error    string `json:"error,omitempty"`
	Sentinel string `json:"sentinel,omitempty"`
}

// sentinels are the errors a forwarded failure keeps its identity for,
// the first that matches winning.
var sentinels = []struct {
	name string
	err  error
}{
	{"not-leader", ErrNotLeader},
	{"topic-exists", ErrTopicExists},
	{"unknown-topic", ErrUnknownTopic},
	{"unknown-partition", ErrUnknownPartition},
	{"invalid-partitions", ErrInvalidPartitions},
	{"invalid-topic", ErrInvalidTopic},
	{"invalid-command", ErrInvalidCommand},
	{"unknown-group", ErrUnknownGroup},
	{"producer-ids-exhausted", ErrProducerIDsExhausted},
	{"closed", ErrClosed},
	{"prepare-failed", ErrPrepareFailed},
}

func sentinelNamed(name string) error {
	for _, s := range sentinels {
		if s.name == name {
			return s.err
		}
	}
	return nil
}

// forwardedError is a failure reported by the leader.
type forwardedError struct {
	msg      string
	sentinel error
}

func (e *forwardedError) Error() string { return e.msg }
func (e *forwardedError) Unwrap() error { return e.sentinel }

// forward sends an encoded command to the leader and returns its result
// once this node has applied it too.
func (s *Store) forward(ctx context.Context, t commandType, data []byte) (any, error) {
	addr, _ := s.raft.LeaderWithID()
	if addr == "" {
		return nil, s.notLeader(nil)
	}
	timeout, err := s.timeout(ctx)
	if err != nil {
		return nil, fmt.Errorf("raftmeta: %s: %w", t, err)
	}
	deadline := time.Now().Add(timeout)
	c, err := dialKind(string(addr), timeout, connForward, s.mux.peerTLS)
	if err != nil {
		return nil, s.notLeader(fmt.Errorf("forwarding %s to %s: %w", t, addr, err))
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	c.SetDeadline(deadline)
	if err := writeFrame(c, data); err != nil {
		return nil, s.notLeader(fmt.Errorf("forwarding %s to %s: %w", t, addr, err))
	}
	resp, result, err := readForwardResponse(c)
	if err != nil {
		// The leader may or may not have applied it, as when a local
		// apply loses leadership.
		return nil, s.notLeader(fmt.Errorf("forwarding %s to %s, the outcome is unknown: %w", t, addr, err))
	}
	if resp.Error != "" {
		sentinel := sentinelNamed(resp.Sentinel)
		if sentinel == ErrNotLeader {
			return nil, s.notLeader(errors.New(resp.Error))
		}
		if resp.Index > 0 {
			// A failed command is still in the log: wait for it like a
			// successful one, so what it did not change reads the same.
			if err := s.waitApplied(ctx, resp.Index, deadline); err != nil {
				return nil, err
			}
		}
		return nil, &forwardedError{msg: resp.Error, sentinel: sentinel}
	}
	if err := s.waitApplied(ctx, resp.Index, deadline); err != nil {
		return nil, err
	}
	return result, nil
}

// readForwardResponse reads and decodes the leader's answer.
func readForwardResponse(r io.Reader) (forwardResponse, any, error) {
	var resp forwardResponse
	body, err := readFrame(r)
	if err != nil {
		return resp, nil, err
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return resp, nil, fmt.Errorf("bad answer: %w", err)
	}
	if resp.Error != "" {
		return resp, nil, nil
	}
	result, err := decodeResult(resp.Kind, resp.Result)
	if err != nil {
		return resp, nil, fmt.Errorf("bad answer: %w", err)
	}
	return resp, result, nil
}

// waitApplied waits until this node's FSM has applied index.
func (s *Store) waitApplied(ctx context.Context, index uint64, deadline time.Time) error {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !s.appliedLocally(index) {
		if time.Now().After(deadline) {
			return fmt.Errorf("raftmeta: the leader applied entry %d, this node has not caught up yet: %w", index, context.DeadlineExceeded)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("raftmeta: waiting to apply entry %d: %w", index, ctx.Err())
		case <-s.done:
			return ErrClosed
		}
	}
	// Raft counts an entry a halted FSM refused as applied: if this node
	// halted at or before index, its reads do not show the write.
	if h := s.fsm.halt.haltErr(); h != nil && h.Index <= index {
		return fmt.Errorf("raftmeta: the leader applied entry %d, this node cannot: %w", index, h)
	}
	return nil
}

// appliedLocally reports whether reads on this node reflect log entry
// index. Raft's AppliedIndex alone does not say so: Raft advances it when
// it hands entries to the FSM goroutine, before Apply has run. The FSM's
// own index does, except after a snapshot restore (Restore is not told the
// snapshot's index, and Raft installs a snapshot before it advances
// AppliedIndex to it): until the next Apply, Raft's index is trusted.
// index is that of a command entry, which Apply always sees unless a
// snapshot covers it.
func (s *Store) appliedLocally(index uint64) bool {
	if s.raft.AppliedIndex() < index {
		return false
	}
	return s.fsm.appliedIndex.Load() >= index || s.fsm.restored.Load()
}

// serveForward answers one forwarded command on the leader.
func (s *Store) serveForward(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(s.cfg.ApplyTimeout + transportTimeout))
	data, err := readFrame(c)
	if err != nil {
		s.log.Debug("raftmeta: reading a forwarded command", "remote", c.RemoteAddr(), "err", err)
		return
	}
	body, err := json.Marshal(s.applyForwarded(data))
	if err != nil {
		s.log.Error("raftmeta: encoding the answer to a forwarded command", "err", err)
		return
	}
	if err := writeFrame(c, body); err != nil {
		s.log.Debug("raftmeta: answering a forwarded command", "remote", c.RemoteAddr(), "err", err)
	}
}

func (s *Store) applyForwarded(data []byte) forwardResponse {
	// The command comes from the network: it is checked before it goes
	// into the log. That includes its type: a command type this leader
	// does not know is refused, ignorable or not, since the leader could
	// not apply it itself (a newer follower must wait for a newer leader).
	cmd, err := decodeCommand(data)
	if err == nil {
		err = cmd.validate()
	}
	if err != nil {
		return errorResponse(fmt.Errorf("raftmeta: forwarded command: %w", err), 0)
	}
	if h := s.HaltErr(); h != nil {
		// This leader's FSM halted (halt.go) and would not apply the
		// command: refuse it before it reaches the log. For the follower
		// that is a leader it cannot use, retriable once the halted
		// broker stops and leadership moves; it is not halted itself, so
		// the answer does not carry ErrHalted's identity.
		return errorResponse(s.notLeader(h), 0)
	}
	if s.raft.State() != raft.Leader {
		return errorResponse(s.notLeader(nil), 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	defer cancel()
	result, index, err := s.applyLocal(ctx, cmd.commandType(), data)
	if err != nil {
		return errorResponse(err, index)
	}
	resp := forwardResponse{Index: index}
	switch r := result.(type) {
	case nil:
	case Topic:
		resp.Kind = "topic"
	case int:
		resp.Kind = "int"
	case int32:
		resp.Kind = "int32"
	case int64:
		resp.Kind = "int64"
	default:
		return errorResponse(fmt.Errorf("raftmeta: %s: cannot forward a result of type %T", cmd.commandType(), r), index)
	}
	if resp.Kind != "" {
		if resp.Result, err = json.Marshal(result); err != nil {
			return errorResponse(fmt.Errorf("raftmeta: %s: encoding the result: %w", cmd.commandType(), err), index)
		}
	}
	return resp
}

func errorResponse(err error, index uint64) forwardResponse {
	resp := forwardResponse{Index: index, Error: err.Error()}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			resp.Sentinel = s.name
			break
		}
	}
	return resp
}

func decodeResult(kind string, raw json.RawMessage) (any, error) {
	switch kind {
	case "":
		return nil, nil
	case "topic":
		return decodeAs[Topic](raw)
	case "int":
		return decodeAs[int](raw)
	case "int32":
		return decodeAs[int32](raw)
	case "int64":
		return decodeAs[int64](raw)
	}
	return nil, fmt.Errorf("unknown result kind %q", kind)
}

func decodeAs[T any](raw json.RawMessage) (any, error) {
	var v T
	err := json.Unmarshal(raw, &v)
	return v, err
}

func writeFrame(w io.Writer, b []byte) error {
	if len(b) > maxForwardBytes {
		return fmt.Errorf("frame of %d bytes is over %d", len(b), maxForwardBytes)
	}
	buf := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	_, err := w.Write(append(buf, b...))
	return err
}

func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > maxForwardBytes {
		return nil, fmt.Errorf("frame of %d bytes is over %d", n, maxForwardBytes)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}
