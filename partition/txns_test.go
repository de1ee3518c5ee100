package partition

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/disklog"
	"github.com/kop-project/kop/storage/storagetest"
)

// fakeIndex is an TxnIndex in memory that can be made to fail.
type fakeIndex struct {
	mu   sync.Mutex
	txns []AbortedTxn
	open []int64 // start times of open transactions
	fail error
}

func (f *fakeIndex) AbortedTxns(storage.TopicPartition) []AbortedTxn {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.txns)
}

func (f *fakeIndex) OpenTxnStarts(storage.TopicPartition) []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.open)
}

func (f *fakeIndex) AddAbortedTxns(_ context.Context, _ storage.TopicPartition, add []AbortedTxn, _ int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	for _, a := range add {
		if !slices.Contains(f.txns, a) {
			f.txns = append(f.txns, a)
		}
	}
	return nil
}

func txnData(t *testing.T, pid int64, epoch int16, seq int32, n int) storage.Batch {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{OffsetDelta: int32(i), Value: []byte("v")}
	}
	now := time.Now().UnixMilli()
	raw := recordbatch.Encode(recordbatch.Fields{Attributes: recordbatch.AttrTransactional, BaseTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq}, recs)
	h, err := recordbatch.ParseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	return storage.Batch{Header: h, Raw: raw}
}

// TestTransactionState: the last stable offset stops at the oldest open
// transaction, markers close transactions, aborts are listed for fetches
// and recorded in the index (retried after the index failed), and a
// reopened partition finds its open transactions in the log's tail.
func TestTransactionState(t *testing.T) {
	ctx := context.Background()
	b, err := disklog.New(t.TempDir(), disklog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	idx := &fakeIndex{}
	m := NewManager(b, nil)
	m.SetTxnIndex(idx)
	tp := storage.TopicPartition{Topic: "t"}
	p, err := m.Acquire(ctx, tp, 0, storagetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	appendOK := func(bt storage.Batch) int64 {
		t.Helper()
		res, err := p.Append(ctx, bt)
		if err != nil {
			t.Fatal(err)
		}
		return res.BaseOffset
	}
	raw := storagetest.MakeBatch(t, 1, 4, 1)
	h, _ := recordbatch.ParseHeader(raw)
	appendOK(storage.Batch{Header: h, Raw: raw}) // 0: not transactional
	first7 := appendOK(txnData(t, 7, 0, 0, 2))   // 1-2
	if lso := p.LastStableOffset(); lso != first7 {
		t.Fatalf("last stable offset %d with producer 7's transaction open from %d", lso, first7)
	}
	if err := p.WriteMarker(ctx, 7, 0, false, 0); err != nil { // 3
		t.Fatal(err)
	}
	if lso, end := p.LastStableOffset(), p.Log().LogEndOffset(); lso != end {
		t.Fatalf("last stable offset %d after the abort, log end %d", lso, end)
	}
	want := []AbortedTxn{{ProducerID: 7, FirstOffset: 1, LastOffset: 3}}
	if got := p.AbortedTxns(0, 4); !slices.Equal(got, want) {
		t.Fatalf("aborted %v, want %v", got, want)
	}
	if got := p.AbortedTxns(4, 10); len(got) != 0 {
		t.Fatalf("aborted after the marker: %v", got)
	}
	if got := idx.AbortedTxns(tp); !slices.Equal(got, want) {
		t.Fatalf("index %v, want %v", got, want)
	}

	// A commit lists nothing; an index that fails gets the abort later.
	appendOK(txnData(t, 8, 0, 0, 1)) // 4
	if err := p.WriteMarker(ctx, 8, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	first9 := appendOK(txnData(t, 9, 0, 0, 1)) // 6
	idx.fail = errors.New("raft down")
	if err := p.WriteMarker(ctx, 9, 0, false, 0); err == nil {
		t.Fatal("WriteMarker succeeded with the index failing")
	}
	idx.fail = nil
	appendOK(txnData(t, 10, 0, 0, 1)) // 8
	if err := p.WriteMarker(ctx, 10, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	if got := idx.AbortedTxns(tp); len(got) != 2 || got[1] != (AbortedTxn{9, first9, first9 + 1}) {
		t.Fatalf("index after the retry: %v", got)
	}

	// A marker raises the producer's epoch: its older batches are fenced.
	if err := p.WriteMarker(ctx, 11, 3, false, 0); err != nil {
		t.Fatal(err)
	}
	if err := p.WriteMarker(ctx, 11, 2, true, 0); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("a marker older than the producer's epoch: %v", err)
	}
	if _, err := p.Append(ctx, txnData(t, 11, 2, 0, 1)); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("a fenced epoch's batch: %v", err)
	}

	// Reopened, the partition finds the open transaction in its tail.
	first12 := appendOK(txnData(t, 12, 0, 0, 3))
	if err := m.Release(tp); err != nil {
		t.Fatal(err)
	}
	p, err = m.Acquire(ctx, tp, 1, storagetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	if lso := p.LastStableOffset(); lso != first12 {
		t.Fatalf("reopened: last stable offset %d, want %d", lso, first12)
	}
	if got := p.AbortedTxns(0, 100); len(got) != 2 {
		t.Fatalf("reopened: aborted %v", got)
	}
	if ps := p.Producers(); len(ps) == 0 {
		t.Fatal("reopened: no producers")
	}

	// An open transaction whose first batch is older than the tail the
	// replay reads is found from its start time.
	m.rebuildTail = 2
	idx.open = []int64{time.Now().Add(-time.Second).UnixMilli()}
	for i := 0; i < 5; i++ {
		raw := storagetest.MakeBatch(t, 1, 4, time.Now().UnixMilli())
		h, _ := recordbatch.ParseHeader(raw)
		appendOK(storage.Batch{Header: h, Raw: raw})
	}
	if err := m.Release(tp); err != nil {
		t.Fatal(err)
	}
	if p, err = m.Acquire(ctx, tp, 2, storagetest.Config()); err != nil {
		t.Fatal(err)
	}
	if lso := p.LastStableOffset(); lso != first12 {
		t.Fatalf("reopened with a short tail: last stable offset %d, want %d", lso, first12)
	}
	m.Close()
}
