package txn

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// fakeStore is an in-memory Store with raftmeta's compare-and-set rule.
type fakeStore struct {
	mu      sync.Mutex
	txns    map[string]raftmeta.Txn
	pending map[string][]raftmeta.OffsetCommit
	changed chan struct{}
}

func newFakeStore() *fakeStore {
	return &fakeStore{txns: map[string]raftmeta.Txn{}, pending: map[string][]raftmeta.OffsetCommit{}, changed: make(chan struct{})}
}

func (s *fakeStore) IsLeader() bool                    { return true }
func (s *fakeStore) LeaderChanged() <-chan struct{}    { return s.changed }
func (s *fakeStore) Barrier(ctx context.Context) error { return nil }
func (s *fakeStore) Txn(id string) (raftmeta.Txn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.txns[id]
	return t, ok
}
func (s *fakeStore) Txns() []raftmeta.Txn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []raftmeta.Txn
	for _, t := range s.txns {
		out = append(out, t)
	}
	return out
}
func (s *fakeStore) PutTxn(ctx context.Context, t raftmeta.Txn, prev int64) (raftmeta.Txn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.txns[t.ID]; ok && cur.Version != prev || !ok && prev != 0 {
		return raftmeta.Txn{}, raftmeta.ErrTxnConflict
	}
	t.Version = prev + 1
	s.txns[t.ID] = t
	return t, nil
}
func (s *fakeStore) DeleteTxn(ctx context.Context, id string, prev int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur, ok := s.txns[id]; !ok || cur.Version != prev {
		return raftmeta.ErrTxnConflict
	}
	delete(s.txns, id)
	return nil
}

func (s *fakeStore) CommitTxnOffsets(ctx context.Context, group string, pid int64, commits []raftmeta.OffsetCommit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending[group] = append(s.pending[group], commits...)
	return nil
}
func (s *fakeStore) Topic(name string) (raftmeta.Topic, bool) {
	if name != "t" {
		return raftmeta.Topic{}, false
	}
	return raftmeta.Topic{Name: "t", Partitions: make([]raftmeta.Partition, 2)}, true
}

type marker struct {
	pid    int64
	epoch  int16
	commit bool
	parts  int
}

type fakeMarkers struct {
	mu   sync.Mutex
	fail error
	got  []marker
}

func (m *fakeMarkers) WriteMarkers(ctx context.Context, pid int64, epoch int16, commit bool, parts []raftmeta.OffsetKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.got = append(m.got, marker{pid, epoch, commit, len(parts)})
	return nil
}

func (m *fakeMarkers) last(t *testing.T) marker {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.got) == 0 {
		t.Fatal("no marker written")
	}
	return m.got[len(m.got)-1]
}

type harness struct {
	c       *Coordinator
	s       *fakeStore
	m       *fakeMarkers
	now     time.Time
	nextPID int64
}

func newHarness(t *testing.T) *harness {
	h := &harness{s: newFakeStore(), m: &fakeMarkers{}, now: time.UnixMilli(1_000_000), nextPID: 100}
	h.c = New(h.s, h.m, Config{
		CleanupInterval: time.Hour,
		ProducerID:      func(context.Context) (int64, error) { h.nextPID++; return h.nextPID, nil },
		Now:             func() time.Time { return h.now },
	})
	h.c.setReady(true)
	t.Cleanup(h.c.Close)
	return h
}

func (h *harness) init(t *testing.T, id string, timeoutMs int32) (int64, int16) {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = &id, timeoutMs
	resp := h.c.InitProducerID(context.Background(), req)
	if resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId(%s): %v", id, kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func (h *harness) addPartitions(id string, pid int64, epoch int16, parts ...int32) int16 {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = "t", parts
	req.Topics = append(req.Topics, rt)
	resp := h.c.AddPartitionsToTxn(context.Background(), req)
	return resp.Topics[0].Partitions[0].ErrorCode
}

func (h *harness) endTxn(id string, pid int64, epoch int16, commit bool) int16 {
	req := kmsg.NewPtrEndTxnRequest()
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	return h.c.EndTxn(context.Background(), req).ErrorCode
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	var wantCode int16
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

func TestCommitAndRetriedEnd(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.init(t, "a", 60000)
	if epoch != 0 {
		t.Fatalf("first epoch %d", epoch)
	}
	wantCode(t, "end with nothing open", h.endTxn("a", pid, epoch, true), kerr.InvalidTxnState)
	wantCode(t, "add", h.addPartitions("a", pid, epoch, 0, 1), nil)
	wantCode(t, "add again", h.addPartitions("a", pid, epoch, 1), nil)
	wantCode(t, "commit", h.endTxn("a", pid, epoch, true), nil)
	if m := h.m.last(t); m != (marker{pid, epoch, true, 2}) {
		t.Fatalf("marker %+v", m)
	}
	if tx, _ := h.s.Txn("a"); tx.State != raftmeta.TxnCompleteCommit {
		t.Fatalf("state %s", tx.State)
	}
	wantCode(t, "retried commit", h.endTxn("a", pid, epoch, true), nil)
	wantCode(t, "abort after commit", h.endTxn("a", pid, epoch, false), kerr.InvalidTxnState)
	wantCode(t, "wrong producer", h.addPartitions("a", pid+1, epoch, 0), kerr.InvalidProducerIDMapping)
	wantCode(t, "unknown partition", h.addPartitions("a", pid, epoch, 5), kerr.UnknownTopicOrPartition)
}

func TestReinitFencesAndAbortsOpenTxn(t *testing.T) {
	h := newHarness(t)
	pid, e0 := h.init(t, "a", 60000)
	wantCode(t, "add", h.addPartitions("a", pid, e0, 0), nil)
	pid2, e1 := h.init(t, "a", 60000)
	if pid2 != pid || e1 <= e0 {
		t.Fatalf("reinit gave %d/%d after %d/%d", pid2, e1, pid, e0)
	}
	if m := h.m.last(t); m.commit || m.epoch <= e0 {
		t.Fatalf("the open transaction was not aborted under a new epoch: %+v", m)
	}
	wantCode(t, "zombie add", h.addPartitions("a", pid, e0, 0), kerr.InvalidProducerEpoch)
	wantCode(t, "zombie commit", h.endTxn("a", pid, e0, true), kerr.InvalidProducerEpoch)
	wantCode(t, "new producer add", h.addPartitions("a", pid, e1, 0), nil)
}

func TestTimeoutAbortsAndFences(t *testing.T) {
	h := newHarness(t)
	pid, e0 := h.init(t, "a", 5000)
	wantCode(t, "add", h.addPartitions("a", pid, e0, 0), nil)
	h.now = h.now.Add(4 * time.Second)
	h.c.cleanup()
	if tx, _ := h.s.Txn("a"); tx.State != raftmeta.TxnOngoing {
		t.Fatalf("aborted before its timeout: %s", tx.State)
	}
	h.now = h.now.Add(2 * time.Second)
	h.c.cleanup()
	tx, _ := h.s.Txn("a")
	if tx.State != raftmeta.TxnCompleteAbort || tx.Epoch != e0+1 {
		t.Fatalf("after the timeout: %+v", tx)
	}
	wantCode(t, "timed-out producer commits", h.endTxn("a", pid, e0, true), kerr.InvalidProducerEpoch)
}

func TestMarkerFailureLeavesPrepare(t *testing.T) {
	h := newHarness(t)
	pid, e := h.init(t, "a", 60000)
	wantCode(t, "add", h.addPartitions("a", pid, e, 0), nil)
	h.m.fail = errors.New("leader down")
	wantCode(t, "commit with markers failing", h.endTxn("a", pid, e, true), kerr.CoordinatorNotAvailable)
	if tx, _ := h.s.Txn("a"); tx.State != raftmeta.TxnPrepareCommit {
		t.Fatalf("state %s", tx.State)
	}
	wantCode(t, "add while preparing", h.addPartitions("a", pid, e, 1), kerr.ConcurrentTransactions)
	wantCode(t, "abort after a decided commit", h.endTxn("a", pid, e, false), kerr.InvalidTxnState)
	h.m.fail = nil
	h.c.cleanup()
	if tx, _ := h.s.Txn("a"); tx.State != raftmeta.TxnCompleteCommit {
		t.Fatalf("cleanup did not finish the commit: %s", tx.State)
	}
}

func TestTxnOffsetCommitNeedsAddOffsets(t *testing.T) {
	h := newHarness(t)
	pid, e := h.init(t, "a", 60000)
	commit := func() int16 {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "a", "g", pid, e
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Offset = 7
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return h.c.TxnOffsetCommit(context.Background(), req).Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "commit before AddOffsetsToTxn", commit(), kerr.InvalidTxnState)
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = "a", pid, e, "g"
	wantCode(t, "AddOffsetsToTxn", h.c.AddOffsetsToTxn(context.Background(), add).ErrorCode, nil)
	wantCode(t, "commit", commit(), nil)
	if got := h.s.pending["g"]; len(got) != 1 || got[0].Offset != 7 {
		t.Fatalf("pending offsets %+v", got)
	}
}

func TestInitRefusesBadTimeout(t *testing.T) {
	h := newHarness(t)
	id := "a"
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = &id, int32((16 * time.Minute).Milliseconds())
	wantCode(t, "timeout above the max", h.c.InitProducerID(context.Background(), req).ErrorCode, kerr.InvalidTransactionTimeout)
}

func TestDescribeAndListTransactions(t *testing.T) {
	h := newHarness(t)
	pid, e := h.init(t, "a", 60000)
	h.init(t, "b", 60000)
	wantCode(t, "add", h.addPartitions("a", pid, e, 0, 1), nil)
	h.now = h.now.Add(3 * time.Second)

	d := kmsg.NewPtrDescribeTransactionsRequest()
	d.TransactionalIDs = []string{"a", "nope"}
	resp := h.c.DescribeTransactions(d)
	a, nope := resp.TransactionStates[0], resp.TransactionStates[1]
	if a.ErrorCode != 0 || a.State != raftmeta.TxnOngoing || a.ProducerID != pid || len(a.Topics) != 1 || len(a.Topics[0].Partitions) != 2 || a.StartTimestamp <= 0 {
		t.Fatalf("describe a: %+v", a)
	}
	wantCode(t, "describe an unknown id", nope.ErrorCode, kerr.TransactionalIDNotFound)

	list := func(states []string, durationMs int64) []string {
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version, req.StateFilters, req.DurationFilterMillis = 1, states, durationMs
		var ids []string
		for _, s := range h.c.ListTransactions(req).TransactionStates {
			ids = append(ids, s.TransactionalID)
		}
		slices.Sort(ids)
		return ids
	}
	if got := list(nil, -1); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("list all: %v", got)
	}
	if got := list([]string{"Ongoing"}, -1); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("list Ongoing: %v", got)
	}
	if got := list(nil, 2000); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("list running over 2 s: %v", got)
	}
	if got := list(nil, 5000); len(got) != 0 {
		t.Fatalf("list running over 5 s: %v", got)
	}
	req := kmsg.NewPtrListTransactionsRequest()
	req.StateFilters = []string{"Dead"}
	if r := h.c.ListTransactions(req); len(r.TransactionStates) != 0 || !slices.Equal(r.UnknownStateFilters, []string{"Dead"}) {
		t.Fatalf("unknown state filter: %+v", r)
	}
}

func TestIDExpiration(t *testing.T) {
	h := newHarness(t)
	h.c.cfg.IDExpiration = time.Hour
	h.init(t, "idle", 60000)
	pid, epoch := h.init(t, "open", 900_000)
	wantCode(t, "add", h.addPartitions("open", pid, epoch, 0), nil)
	h.now = h.now.Add(2 * time.Hour)
	h.c.cfg.MaxTimeout = 3 * time.Hour // no timeout abort in this test
	if tx, _ := h.s.Txn("open"); true {
		tx.TimeoutMs = int32((3 * time.Hour).Milliseconds())
		h.s.PutTxn(context.Background(), tx, tx.Version)
	}
	h.c.cleanup()
	if _, ok := h.s.Txn("idle"); ok {
		t.Fatal("an id unused for longer than the expiration was kept")
	}
	if tx, ok := h.s.Txn("open"); !ok || tx.State != raftmeta.TxnOngoing {
		t.Fatalf("an id with an open transaction was forgotten or changed: %+v %v", tx, ok)
	}
}

func TestTxnOffsetCommitChecksMember(t *testing.T) {
	h := newHarness(t)
	var asked []string
	h.c.cfg.GroupMember = func(group string, generation int32, member, instance string) *kerr.Error {
		asked = append(asked, fmt.Sprintf("%s/%d/%s", group, generation, member))
		if generation != 3 {
			return kerr.IllegalGeneration
		}
		return nil
	}
	pid, e := h.init(t, "a", 60000)
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = "a", pid, e, "g"
	wantCode(t, "AddOffsetsToTxn", h.c.AddOffsetsToTxn(context.Background(), add).ErrorCode, nil)
	commit := func(version int16, generation int32, member string) int16 {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version, req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = version, "a", "g", pid, e
		req.Generation, req.MemberID = generation, member
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "t"
		rt.Partitions = append(rt.Partitions, kmsg.NewTxnOffsetCommitRequestTopicPartition())
		req.Topics = append(req.Topics, rt)
		return h.c.TxnOffsetCommit(context.Background(), req).Topics[0].Partitions[0].ErrorCode
	}
	wantCode(t, "v3, a stale generation", commit(3, 2, "m"), kerr.IllegalGeneration)
	wantCode(t, "v3, the current generation", commit(3, 3, "m"), nil)
	wantCode(t, "v3 without member metadata", commit(3, -1, ""), nil)
	wantCode(t, "v2", commit(2, 2, "m"), nil)
	if len(asked) != 2 {
		t.Fatalf("member checks %v, want the two v3 commits naming a member", asked)
	}
}

// TestEpochExhaustion: a transaction aborted at the last epoch gets its
// markers under its own id and epoch; the producer then gets a new id.
func TestEpochExhaustion(t *testing.T) {
	h := newHarness(t)
	pid, _ := h.init(t, "a", 60000)
	tx, _ := h.s.Txn("a")
	tx.Epoch = maxEpoch
	if _, err := h.s.PutTxn(context.Background(), tx, tx.Version); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "add", h.addPartitions("a", pid, maxEpoch, 0), nil)
	newPID, epoch := h.init(t, "a", 60000) // aborts the open transaction
	if m := h.m.last(t); m.pid != pid || m.epoch != maxEpoch || m.commit {
		t.Fatalf("abort marker %+v, want producer %d at epoch %d", m, pid, maxEpoch)
	}
	if newPID == pid || epoch != 0 {
		t.Fatalf("after exhaustion: producer %d epoch %d, want a new id at epoch 0", newPID, epoch)
	}
	wantCode(t, "the old id", h.addPartitions("a", pid, maxEpoch, 0), kerr.InvalidProducerIDMapping)
}

func TestTxnOffsetCommitValidates(t *testing.T) {
	h := newHarness(t)
	pid, e := h.init(t, "a", 60000)
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = "a", pid, e, "g"
	wantCode(t, "AddOffsetsToTxn", h.c.AddOffsetsToTxn(context.Background(), add).ErrorCode, nil)
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "a", "g", pid, e
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = "t"
	big := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	big.Partition, big.Metadata = 0, kmsg.StringPtr(strings.Repeat("m", 5000))
	neg := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	neg.Partition, neg.Offset = 1, -5
	rt.Partitions = append(rt.Partitions, big, neg)
	req.Topics = append(req.Topics, rt)
	ps := h.c.TxnOffsetCommit(context.Background(), req).Topics[0].Partitions
	wantCode(t, "metadata over the limit", ps[0].ErrorCode, kerr.OffsetMetadataTooLarge)
	wantCode(t, "offset -5", ps[1].ErrorCode, kerr.InvalidRequest)
	if len(h.s.pending["g"]) != 0 {
		t.Fatalf("refused offsets were stored: %v", h.s.pending["g"])
	}
	empty := ""
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID, ip.TransactionTimeoutMillis = &empty, 60000
	wantCode(t, "empty transactional id", h.c.InitProducerID(context.Background(), ip).ErrorCode, kerr.InvalidRequest)
}
