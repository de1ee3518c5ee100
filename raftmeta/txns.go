package raftmeta

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Transaction state kept in Raft: the transaction coordinator's record of
// every transactional id (package coordinator owns the protocol; this is
// its durable record), the offsets a transaction commits for consumer
// groups until it ends, and each partition's aborted transactions, which
// read_committed fetches need long after the abort.

// Transaction states, as Kafka's transaction coordinator names them.
const (
	TxnEmpty          = "Empty"
	TxnOngoing        = "Ongoing"
	TxnPrepareCommit  = "PrepareCommit"
	TxnPrepareAbort   = "PrepareAbort"
	TxnCompleteCommit = "CompleteCommit"
	TxnCompleteAbort  = "CompleteAbort"
)

// ErrTxnConflict: PutTxn's expected version is not the stored one; another
// change to the transactional id won. The caller reads it again.
var ErrTxnConflict = errors.New("raftmeta: transaction changed concurrently")

// Txn is one transactional id's state.
type Txn struct {
	ID         string      `json:"id"`
	ProducerID int64       `json:"producerId"`
	Epoch      int16       `json:"epoch"`
	TimeoutMs  int32       `json:"timeoutMs"`
	State      string      `json:"state"`
	Partitions []OffsetKey `json:"partitions,omitempty"` // sorted; in the transaction
	Groups     []string    `json:"groups,omitempty"`     // sorted; whose offsets it commits
	StartMs    int64       `json:"startMs"`              // the current transaction began
	UpdatedMs  int64       `json:"updatedMs"`
	// Version counts the changes; PutTxn compares it.
	Version int64 `json:"version"`
}

func (t Txn) clone() Txn {
	t.Partitions = slices.Clone(t.Partitions)
	t.Groups = slices.Clone(t.Groups)
	return t
}

func (t *Txn) validate() error {
	if t.ID == "" {
		return fmt.Errorf("%w: empty transactional id", ErrInvalidCommand)
	}
	switch t.State {
	case TxnEmpty, TxnOngoing, TxnPrepareCommit, TxnPrepareAbort, TxnCompleteCommit, TxnCompleteAbort:
	default:
		return fmt.Errorf("%w: transaction %q: state %q", ErrInvalidCommand, t.ID, t.State)
	}
	if t.ProducerID < 0 || t.Epoch < 0 || t.TimeoutMs <= 0 {
		return fmt.Errorf("%w: transaction %q: producer %d epoch %d timeout %d", ErrInvalidCommand, t.ID, t.ProducerID, t.Epoch, t.TimeoutMs)
	}
	for _, p := range t.Partitions {
		if err := p.validate(); err != nil {
			return fmt.Errorf("transaction %q: %w", t.ID, err)
		}
	}
	if !slices.IsSortedFunc(t.Partitions, compareOffsetKeys) || !slices.IsSorted(t.Groups) {
		return fmt.Errorf("%w: transaction %q: partitions and groups must be sorted", ErrInvalidCommand, t.ID)
	}
	return nil
}

// AbortedTxn is one aborted transaction of one partition: its producer,
// its first offset there and the offset of its abort marker, which is what
// a Fetch response's aborted-transactions list is made from.
type AbortedTxn struct {
	ProducerID  int64 `json:"producerId"`
	FirstOffset int64 `json:"firstOffset"`
	LastOffset  int64 `json:"lastOffset"` // the abort marker
}

// MaxAbortedTxnsPerCommand bounds one AddAbortedTxns call.
const MaxAbortedTxnsPerCommand = 10_000

type putTxnCmd struct {
	Txn         Txn   `json:"txn"`
	PrevVersion int64 `json:"prevVersion"` // 0: the id must be new
}

func (*putTxnCmd) commandType() commandType { return cmdPutTxn }
func (c *putTxnCmd) validate() error        { return c.Txn.validate() }

// deleteTxnCmd forgets a transactional id (transactional.id.expiration.ms).
type deleteTxnCmd struct {
	ID          string `json:"id"`
	PrevVersion int64  `json:"prevVersion"`
}

func (*deleteTxnCmd) commandType() commandType { return cmdDeleteTxn }

func (c *deleteTxnCmd) validate() error {
	if c.ID == "" {
		return fmt.Errorf("%w: empty transactional id", ErrInvalidCommand)
	}
	return nil
}

func (s *fsmState) deleteTxn(c *deleteTxnCmd) error {
	cur, ok := s.tx.txns[c.ID]
	if !ok || cur.Version != c.PrevVersion {
		return fmt.Errorf("transaction %q at version %d, not %d: %w", c.ID, cur.Version, c.PrevVersion, ErrTxnConflict)
	}
	delete(s.tx.txns, c.ID)
	return nil
}

type txnOffsetCommitCmd struct {
	Group      string         `json:"group"`
	ProducerID int64          `json:"producerId"`
	Offsets    []OffsetCommit `json:"offsets"`
}

func (*txnOffsetCommitCmd) commandType() commandType { return cmdTxnOffsetCommit }

func (c *txnOffsetCommitCmd) validate() error {
	if err := validateGroupID(c.Group); err != nil {
		return err
	}
	if len(c.Offsets) > MaxOffsetCommits {
		return fmt.Errorf("%w: %d offsets in one commit", ErrInvalidCommand, len(c.Offsets))
	}
	for _, o := range c.Offsets {
		if err := o.validate(); err != nil {
			return err
		}
	}
	return nil
}

type abortedTxnsCmd struct {
	Key OffsetKey    `json:"key"`
	Add []AbortedTxn `json:"add,omitempty"`
	// PruneBefore drops the entries whose marker is below it (the log
	// start moved past them).
	PruneBefore int64 `json:"pruneBefore,omitempty"`
}

func (*abortedTxnsCmd) commandType() commandType { return cmdAbortedTxns }

func (c *abortedTxnsCmd) validate() error {
	if err := c.Key.validate(); err != nil {
		return err
	}
	if len(c.Add) > MaxAbortedTxnsPerCommand {
		return fmt.Errorf("%w: %d aborted transactions in one command", ErrInvalidCommand, len(c.Add))
	}
	for _, a := range c.Add {
		if a.ProducerID < 0 || a.FirstOffset < 0 || a.LastOffset < a.FirstOffset {
			return fmt.Errorf("%w: %s-%d: aborted transaction %+v", ErrInvalidCommand, c.Key.Topic, c.Key.Partition, a)
		}
	}
	return nil
}

// txnState is the transaction part of fsmState.
type txnState struct {
	txns map[string]Txn
	// pending holds offsets committed inside transactions, by group then
	// producer id, until the transaction ends.
	pending map[string]map[int64][]OffsetCommit
	// aborted holds each partition's aborted transactions, by marker
	// offset.
	aborted map[OffsetKey][]AbortedTxn
}

func newTxnState() txnState {
	return txnState{
		txns:    make(map[string]Txn),
		pending: make(map[string]map[int64][]OffsetCommit),
		aborted: make(map[OffsetKey][]AbortedTxn),
	}
}

func (s *fsmState) putTxn(c *putTxnCmd) (Txn, error) {
	cur, ok := s.tx.txns[c.Txn.ID]
	if ok && cur.Version != c.PrevVersion || !ok && c.PrevVersion != 0 {
		return Txn{}, fmt.Errorf("transaction %q at version %d, not %d: %w", c.Txn.ID, cur.Version, c.PrevVersion, ErrTxnConflict)
	}
	t := c.Txn.clone()
	t.Version = c.PrevVersion + 1
	switch t.State {
	case TxnCompleteCommit, TxnCompleteAbort:
		// The transaction's offsets become committed, or are dropped.
		for _, g := range t.Groups {
			byProducer := s.tx.pending[g]
			offs, ok := byProducer[t.ProducerID]
			if !ok {
				continue
			}
			delete(byProducer, t.ProducerID)
			if len(byProducer) == 0 {
				delete(s.tx.pending, g)
			}
			if t.State == TxnCompleteCommit {
				s.commitOffsets(&commitOffsetsCmd{Groups: []groupCommit{{Group: g, Offsets: offs}}})
			}
		}
	}
	s.tx.txns[t.ID] = t
	return t.clone(), nil
}

func (s *fsmState) txnOffsetCommit(c *txnOffsetCommitCmd) {
	byProducer := s.tx.pending[c.Group]
	if byProducer == nil {
		byProducer = make(map[int64][]OffsetCommit)
		s.tx.pending[c.Group] = byProducer
	}
	// A later commit of a partition replaces the earlier one.
	merged := slices.Clone(byProducer[c.ProducerID])
	for _, o := range c.Offsets {
		i := slices.IndexFunc(merged, func(m OffsetCommit) bool { return m.OffsetKey == o.OffsetKey })
		if i >= 0 {
			merged[i] = o
		} else {
			merged = append(merged, o)
		}
	}
	byProducer[c.ProducerID] = merged
}

func (s *fsmState) abortedTxns(c *abortedTxnsCmd) {
	cur := s.tx.aborted[c.Key]
	next := make([]AbortedTxn, 0, len(cur)+len(c.Add))
	for _, a := range cur {
		if a.LastOffset >= c.PruneBefore {
			next = append(next, a)
		}
	}
	for _, a := range c.Add {
		if a.LastOffset >= c.PruneBefore && !slices.Contains(next, a) {
			next = append(next, a)
		}
	}
	slices.SortFunc(next, func(a, b AbortedTxn) int { return cmp.Compare(a.LastOffset, b.LastOffset) })
	if len(next) == 0 {
		delete(s.tx.aborted, c.Key)
		return
	}
	s.tx.aborted[c.Key] = next
}

// removeTopicTxns drops a deleted topic's aborted transactions.
func (s *fsmState) removeTopicTxns(topic string) {
	for k := range s.tx.aborted {
		if k.Topic == topic {
			delete(s.tx.aborted, k)
		}
	}
}

// The Store's transaction API.

// PutTxn stores a transactional id's state if its stored version is
// prevVersion (0: it has none), and returns it with the new version.
// Moving to CompleteCommit commits the offsets the transaction's producer
// committed for its groups (TxnOffsetCommit); CompleteAbort drops them.
// Errors: ErrTxnConflict, ErrInvalidCommand, ErrNotLeader, ErrClosed.
func (s *Store) PutTxn(ctx context.Context, t Txn, prevVersion int64) (Txn, error) {
	resp, err := s.propose(ctx, &putTxnCmd{Txn: t.clone(), PrevVersion: prevVersion})
	if err != nil {
		return Txn{}, err
	}
	out, ok := resp.(Txn)
	if !ok {
		return Txn{}, fmt.Errorf("raftmeta: PutTxn: unexpected response %T", resp)
	}
	return out, nil
}

// DeleteTxn forgets a transactional id if its stored version is
// prevVersion. Errors: ErrTxnConflict.
func (s *Store) DeleteTxn(ctx context.Context, id string, prevVersion int64) error {
	_, err := s.propose(ctx, &deleteTxnCmd{ID: id, PrevVersion: prevVersion})
	return err
}

// CommitTxnOffsets stores offsets a transaction's producer commits for a
// group; they are invisible to Offsets until the transaction commits.
func (s *Store) CommitTxnOffsets(ctx context.Context, group string, producerID int64, commits []OffsetCommit) error {
	_, err := s.propose(ctx, &txnOffsetCommitCmd{Group: group, ProducerID: producerID, Offsets: slices.Clone(commits)})
	return err
}

// AddAbortedTxns records aborted transactions of a partition and drops
// those whose marker is below pruneBefore.
func (s *Store) AddAbortedTxns(ctx context.Context, k OffsetKey, add []AbortedTxn, pruneBefore int64) error {
	_, err := s.propose(ctx, &abortedTxnsCmd{Key: k, Add: slices.Clone(add), PruneBefore: pruneBefore})
	return err
}

// Txn returns a transactional id's state.
func (s *Store) Txn(id string) (Txn, bool) {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	t, ok := s.fsm.state.tx.txns[id]
	return t.clone(), ok
}

// Txns returns every transactional id's state, sorted by id.
func (s *Store) Txns() []Txn {
	s.fsm.mu.RLock()
	out := make([]Txn, 0, len(s.fsm.state.tx.txns))
	for _, t := range s.fsm.state.tx.txns {
		out = append(out, t.clone())
	}
	s.fsm.mu.RUnlock()
	slices.SortFunc(out, func(a, b Txn) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// PendingTxnOffsets reports whether a transaction still to end has
// committed an offset of k for group (OffsetFetch's require_stable).
func (s *Store) PendingTxnOffsets(group string, k OffsetKey) bool {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	for _, offs := range s.fsm.state.tx.pending[group] {
		for _, o := range offs {
			if o.OffsetKey == k {
				return true
			}
		}
	}
	return false
}

// AbortedTxns returns a partition's recorded aborted transactions, by
// marker offset.
func (s *Store) AbortedTxns(k OffsetKey) []AbortedTxn {
	s.fsm.mu.RLock()
	defer s.fsm.mu.RUnlock()
	return slices.Clone(s.fsm.state.tx.aborted[k])
}

// Snapshot part.

type snapshotTxns struct {
	Txns    []Txn                 `json:"txns"`
	Pending []snapshotTxnOffsets  `json:"pending"`
	Aborted []snapshotAbortedTxns `json:"aborted"`
}

type snapshotTxnOffsets struct {
	Group      string         `json:"group"`
	ProducerID int64          `json:"producerId"`
	Offsets    []OffsetCommit `json:"offsets"`
}

type snapshotAbortedTxns struct {
	Key OffsetKey    `json:"key"`
	Txn []AbortedTxn `json:"txns"`
}

func (t *txnState) toDoc() *snapshotTxns {
	doc := &snapshotTxns{}
	for _, x := range t.txns {
		doc.Txns = append(doc.Txns, x)
	}
	for g, byProducer := range t.pending {
		for pid, offs := range byProducer {
			doc.Pending = append(doc.Pending, snapshotTxnOffsets{Group: g, ProducerID: pid, Offsets: offs})
		}
	}
	for k, a := range t.aborted {
		doc.Aborted = append(doc.Aborted, snapshotAbortedTxns{Key: k, Txn: a})
	}
	slices.SortFunc(doc.Txns, func(a, b Txn) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(doc.Pending, func(a, b snapshotTxnOffsets) int {
		return cmp.Or(strings.Compare(a.Group, b.Group), cmp.Compare(a.ProducerID, b.ProducerID))
	})
	slices.SortFunc(doc.Aborted, func(a, b snapshotAbortedTxns) int { return compareOffsetKeys(a.Key, b.Key) })
	return doc
}

// restoreTxn, restorePending and restoreAborted add one snapshot record
// each, checked as the command that made it.
func (t *txnState) restoreTxn(x Txn) error {
	if err := x.validate(); err != nil {
		return err
	}
	if _, dup := t.txns[x.ID]; dup {
		return fmt.Errorf("transactional id %q listed twice", x.ID)
	}
	t.txns[x.ID] = x.clone()
	return nil
}

func (t *txnState) restorePending(p snapshotTxnOffsets) error {
	c := txnOffsetCommitCmd{Group: p.Group, ProducerID: p.ProducerID, Offsets: p.Offsets}
	if err := c.validate(); err != nil {
		return err
	}
	if _, dup := t.pending[p.Group][p.ProducerID]; dup {
		return fmt.Errorf("pending offsets of group %q, producer %d listed twice", p.Group, p.ProducerID)
	}
	if t.pending[p.Group] == nil {
		t.pending[p.Group] = make(map[int64][]OffsetCommit)
	}
	t.pending[p.Group][p.ProducerID] = slices.Clone(p.Offsets)
	return nil
}

func (t *txnState) restoreAborted(a snapshotAbortedTxns) error {
	c := abortedTxnsCmd{Key: a.Key, Add: a.Txn}
	if err := c.validate(); err != nil {
		return err
	}
	if _, dup := t.aborted[a.Key]; dup {
		return fmt.Errorf("aborted transactions of %s-%d listed twice", a.Key.Topic, a.Key.Partition)
	}
	t.aborted[a.Key] = slices.Clone(a.Txn)
	return nil
}
