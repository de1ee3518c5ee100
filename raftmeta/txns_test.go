package raftmeta

import (
	"bytes"
	"io"
	"reflect"
	"testing"
)

func sampleTxn(state string) Txn {
	return Txn{ID: "tx", ProducerID: 7, Epoch: 1, TimeoutMs: 60000, State: state,
		Partitions: []OffsetKey{{"a", 0}, {"b", 1}}, Groups: []string{"g"}, StartMs: 5, UpdatedMs: 6}
}

func TestPutTxnVersions(t *testing.T) {
	h := newFSMHarness(t)
	got := h.mustApply(&putTxnCmd{Txn: sampleTxn(TxnEmpty)}).(Txn)
	if got.Version != 1 {
		t.Fatalf("first put: version %d", got.Version)
	}
	h.wantErr(&putTxnCmd{Txn: sampleTxn(TxnOngoing)}, ErrTxnConflict)                 // not new
	h.wantErr(&putTxnCmd{Txn: sampleTxn(TxnOngoing), PrevVersion: 5}, ErrTxnConflict) // stale
	got = h.mustApply(&putTxnCmd{Txn: sampleTxn(TxnOngoing), PrevVersion: 1}).(Txn)
	if got.Version != 2 || got.State != TxnOngoing {
		t.Fatalf("second put: %+v", got)
	}
	bad := sampleTxn("Dead")
	h.wantErr(&putTxnCmd{Txn: bad, PrevVersion: 2}, ErrInvalidCommand)
	unsorted := sampleTxn(TxnOngoing)
	unsorted.Partitions = []OffsetKey{{"b", 0}, {"a", 0}}
	h.wantErr(&putTxnCmd{Txn: unsorted, PrevVersion: 2}, ErrInvalidCommand)
}

func TestTxnOffsetsVisibleOnCommitOnly(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(&putTxnCmd{Txn: sampleTxn(TxnOngoing)})
	h.mustApply(&txnOffsetCommitCmd{Group: "g", ProducerID: 7, Offsets: []OffsetCommit{commit("t", 0, 10, 1)}})
	h.mustApply(&txnOffsetCommitCmd{Group: "g", ProducerID: 7, Offsets: []OffsetCommit{commit("t", 0, 12, 2), commit("t", 1, 3, 2)}})
	h.mustApply(&txnOffsetCommitCmd{Group: "g", ProducerID: 8, Offsets: []OffsetCommit{commit("t", 2, 99, 2)}}) // another producer's
	if offs := h.f.offsets("g"); len(offs) != 0 {
		t.Fatalf("offsets visible before the transaction ended: %v", offs)
	}
	h.mustApply(&putTxnCmd{Txn: sampleTxn(TxnCompleteCommit), PrevVersion: 1})
	offs := h.f.offsets("g")
	if len(offs) != 2 || offs[OffsetKey{"t", 0}].Offset != 12 || offs[OffsetKey{"t", 1}].Offset != 3 {
		t.Fatalf("offsets after commit: %v", offs)
	}
	// An aborted transaction's offsets are dropped.
	h.mustApply(&txnOffsetCommitCmd{Group: "g", ProducerID: 7, Offsets: []OffsetCommit{commit("t", 0, 50, 3)}})
	h.mustApply(&putTxnCmd{Txn: sampleTxn(TxnCompleteAbort), PrevVersion: 2})
	if o := h.f.offsets("g")[OffsetKey{"t", 0}]; o.Offset != 12 {
		t.Fatalf("aborted offset applied: %+v", o)
	}
	if _, ok := h.f.state.tx.pending["g"][8]; !ok {
		t.Fatal("another producer's pending offsets were dropped")
	}
}

func TestAbortedTxnsAddPruneDelete(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(createCmd("t", 1, 1))
	k := OffsetKey{"t", 0}
	h.mustApply(&abortedTxnsCmd{Key: k, Add: []AbortedTxn{{7, 10, 20}, {8, 5, 15}}})
	h.mustApply(&abortedTxnsCmd{Key: k, Add: []AbortedTxn{{7, 10, 20}}}) // recorded twice: kept once
	if got, want := h.f.state.tx.aborted[k], []AbortedTxn{{8, 5, 15}, {7, 10, 20}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("aborted = %v, want %v", got, want)
	}
	h.mustApply(&abortedTxnsCmd{Key: k, PruneBefore: 16})
	if got, want := h.f.state.tx.aborted[k], []AbortedTxn{{7, 10, 20}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after prune: %v, want %v", got, want)
	}
	h.wantErr(&abortedTxnsCmd{Key: k, Add: []AbortedTxn{{7, 30, 20}}}, ErrInvalidCommand)
	h.mustApply(&deleteTopicCmd{Name: "t"})
	if len(h.f.state.tx.aborted) != 0 {
		t.Fatalf("a deleted topic's aborted transactions kept: %v", h.f.state.tx.aborted)
	}
}

func TestTxnSnapshotRoundTrip(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(&putTxnCmd{Txn: sampleTxn(TxnOngoing)})
	h.mustApply(&txnOffsetCommitCmd{Group: "g", ProducerID: 7, Offsets: []OffsetCommit{commit("t", 0, 10, 1)}})
	h.mustApply(&abortedTxnsCmd{Key: OffsetKey{"t", 0}, Add: []AbortedTxn{{7, 10, 20}}})
	data := h.snapshotBytes()
	g := newFSMHarness(t)
	if err := g.f.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.snapshotBytes(), data) {
		t.Fatalf("restored state snapshots differently:\n%s\nvs\n%s", g.snapshotBytes(), data)
	}
	if !reflect.DeepEqual(g.f.state.tx, h.f.state.tx) {
		t.Fatalf("restored transactions differ: %+v vs %+v", g.f.state.tx, h.f.state.tx)
	}
	bad := bytes.Replace(data, []byte(`"state":"Ongoing"`), []byte(`"state":"Nope"`), 1)
	if err := g.f.Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
		t.Fatal("Restore accepted a transaction in an unknown state")
	}
}

func TestDeleteTxn(t *testing.T) {
	h := newFSMHarness(t)
	h.mustApply(&putTxnCmd{Txn: sampleTxn(TxnCompleteCommit)})
	h.wantErr(&deleteTxnCmd{ID: "tx", PrevVersion: 7}, ErrTxnConflict)
	h.wantErr(&deleteTxnCmd{ID: "nope", PrevVersion: 0}, ErrTxnConflict)
	h.mustApply(&deleteTxnCmd{ID: "tx", PrevVersion: 1})
	if _, ok := h.f.state.tx.txns["tx"]; ok {
		t.Fatal("deleted transactional id still there")
	}
}
