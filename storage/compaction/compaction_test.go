package compaction

import (
	"math"
	"testing"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

func batch(base, maxTs int64, recs ...recordbatch.Record) (recordbatch.Header, []byte) {
	for i := range recs {
		recs[i].OffsetDelta = int32(i)
	}
	raw := recordbatch.Encode(recordbatch.Fields{BaseOffset: base, BaseTimestamp: maxTs, MaxTimestamp: maxTs, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	h, _ := recordbatch.ParseHeader(raw)
	return h, raw
}

func rec(k, v string) recordbatch.Record {
	r := recordbatch.Record{Key: []byte(k), Value: []byte(v)}
	if v == "" {
		r.Value = nil
	}
	return r
}

// TestRetain: the rules of one pass — a later record of the key, no key,
// and a tombstone already cleaned once and older than
// delete.retention.ms each remove a record; everything else stays.
func TestRetain(t *testing.T) {
	m := NewOffsetMap(1 << 20)
	dirtyH, dirty := batch(100, 5000, rec("a", "a2"), rec("t", ""))
	if err := m.Add(&dirtyH, dirty); err != nil {
		t.Fatal(err)
	}
	cfg := storage.TopicConfig{Compact: true, DeleteRetentionMs: 1000}
	p := &Pass{Map: m, CleanedTo: 50, NowMs: 10_000, Config: cfg}

	h, raw := batch(10, 1000, rec("a", "a1"), rec("b", "b1"), recordbatch.Record{Value: []byte("no key")}, rec("old-tomb", ""))
	out, removed, err := p.Retain(&h, raw)
	if err != nil || removed != 3 {
		t.Fatalf("removed %d (%v), want 3: a1 (replaced), the key-less one, the expired tombstone", removed, err)
	}
	recs, _ := recordbatch.DecodeRecords(out, 1<<20)
	if len(recs) != 1 || string(recs[0].Key) != "b" {
		t.Fatalf("kept %+v, want b1 alone", recs)
	}
	// The dirty part's own tombstone stays in the pass that first reaches
	// it, and so does a cleaned one younger than delete.retention.ms.
	if out, removed, _ := p.Retain(&dirtyH, dirty); removed != 0 || &out[0] != &dirty[0] {
		t.Fatalf("the latest records were touched: %d removed", removed)
	}
	h, raw = batch(20, 9500, rec("young-tomb", ""))
	if _, removed, _ := p.Retain(&h, raw); removed != 0 {
		t.Fatal("a tombstone younger than delete.retention.ms went")
	}
	// A batch left empty is dropped; a control batch is kept whole.
	h, raw = batch(30, 1000, rec("a", "a0"))
	if out, removed, _ := p.Retain(&h, raw); out != nil || removed != 1 {
		t.Fatalf("an emptied batch: %d bytes, %d removed", len(out), removed)
	}
	h.Attributes |= recordbatch.AttrControl
	if out, _, _ := p.Retain(&h, raw); len(out) != len(raw) {
		t.Fatal("a control batch was rewritten")
	}
}

func TestOffsetMapBound(t *testing.T) {
	m := NewOffsetMap(EntryBytes * 3)
	if !m.Fits(3) || m.Fits(4) {
		t.Fatal("a 3-key buffer")
	}
	h, raw := batch(0, 1, rec("x", "1"), rec("y", "1"), rec("x", "2"))
	_ = m.Add(&h, raw)
	if m.Len() != 2 || !m.Fits(1) || m.Fits(2) {
		t.Fatalf("%d keys mapped", m.Len())
	}
	if NewOffsetMap(0).limit != 1 {
		t.Fatal("a map must hold at least one key")
	}
}

func TestSchedule(t *testing.T) {
	cfg := storage.TopicConfig{MinCleanableDirtyRatio: 0.5, MinCompactionLagMs: 100, MaxCompactionLagMs: math.MaxInt64}
	if !Due(cfg, 10, 10) || Due(cfg, 11, 9) || Due(cfg, 0, 0) {
		t.Fatal("dirty ratio")
	}
	if !Cleanable(cfg, 900, 1000) || Cleanable(cfg, 901, 1000) {
		t.Fatal("min.compaction.lag.ms")
	}
	if Overdue(cfg, math.MinInt64, 1000) {
		t.Fatal("the default max.compaction.lag.ms never forces a clean")
	}
	cfg.MaxCompactionLagMs = 500
	if !Overdue(cfg, 499, 1000) || Overdue(cfg, 500, 1000) {
		t.Fatal("max.compaction.lag.ms")
	}
}

// TestRetainKeepsProducerState: a batch of an idempotent producer that
// loses every record stays as an empty batch when it may be the
// producer's last (its sequence must survive), and goes otherwise.
func TestRetainKeepsProducerState(t *testing.T) {
	idem := func(base, pid int64, seq int32, recs ...recordbatch.Record) (recordbatch.Header, []byte) {
		for i := range recs {
			recs[i].OffsetDelta = int32(i)
		}
		raw := recordbatch.Encode(recordbatch.Fields{BaseOffset: base, BaseTimestamp: 1, MaxTimestamp: 1, ProducerID: pid, ProducerEpoch: 2, BaseSequence: seq}, recs)
		h, _ := recordbatch.ParseHeader(raw)
		return h, raw
	}
	m := NewOffsetMap(1 << 20)
	d1h, d1 := idem(100, 7, 40, rec("a", "new"), rec("b", "new"))
	d2h, d2 := idem(102, 7, 42, rec("a", "newer"))
	for _, b := range []struct {
		h   recordbatch.Header
		raw []byte
	}{{d1h, d1}, {d2h, d2}} {
		if err := m.Add(&b.h, b.raw); err != nil {
			t.Fatal(err)
		}
	}
	p := &Pass{Map: m, CleanedTo: 100, NowMs: 10, Config: storage.TopicConfig{Compact: true}}
	// In the dirty part: producer 7's batch at 100 loses a and b? b stays.
	// Its batch at 102 is its last: kept whole.
	if out, _, _ := p.Retain(&d2h, d2); len(out) != len(d2) {
		t.Fatal("the latest batch changed")
	}
	// Below the dirty part, producer 7 wrote again later: its old batch
	// goes entirely.
	oh, old := idem(10, 7, 30, rec("a", "old"))
	if out, _, _ := p.Retain(&oh, old); out != nil {
		t.Fatal("an old batch of a producer that wrote since was kept")
	}
	// Producer 9 wrote nothing in the dirty part: its batch stays, empty,
	// with its offsets and sequence.
	nh, nine := idem(20, 9, 5, rec("a", "x"), rec("b", "y"), rec("a", "z"))
	out, removed, err := p.Retain(&nh, nine)
	if err != nil || removed != 3 || out == nil {
		t.Fatalf("producer 9's last batch: %d bytes, %d removed, %v", len(out), removed, err)
	}
	eh, err := recordbatch.ParseHeader(out)
	if err != nil || eh.RecordCount != 0 || eh.BaseOffset != 20 || eh.NextOffset() != 23 || eh.ProducerID != 9 || eh.BaseSequence != 5 || eh.ProducerEpoch != 2 {
		t.Fatalf("the empty batch: %+v (%v)", eh, err)
	}
	if err := recordbatch.VerifyCRC(out); err != nil {
		t.Fatal(err)
	}
	// A batch of a non-idempotent producer goes.
	ph, plain := batch(30, 1, rec("a", "q"))
	if out, _, _ := p.Retain(&ph, plain); out != nil {
		t.Fatal("an emptied non-idempotent batch was kept")
	}
}

// txnBatch is a batch of producer pid's transaction.
func txnBatch(base int64, pid int64, recs ...recordbatch.Record) (recordbatch.Header, []byte) {
	for i := range recs {
		recs[i].OffsetDelta = int32(i)
	}
	raw := recordbatch.Encode(recordbatch.Fields{BaseOffset: base, Attributes: recordbatch.AttrTransactional, BaseTimestamp: 1, MaxTimestamp: 1, ProducerID: pid, BaseSequence: 0}, recs)
	h, _ := recordbatch.ParseHeader(raw)
	return h, raw
}

func markerAt(base, pid int64, commit bool) (recordbatch.Header, []byte) {
	raw := recordbatch.Marker(pid, 0, commit, 0, 1)
	recordbatch.SetBaseOffset(raw, base)
	h, _ := recordbatch.ParseHeader(raw)
	return h, raw
}

// TestTransactions: an aborted transaction's records never replace a
// committed value and go whole; a committed one's replace older values;
// an open one's keys are not mapped (its outcome is unknown) while
// records later committed values replace still go.
func TestTransactions(t *testing.T) {
	type b struct {
		h   recordbatch.Header
		raw []byte
	}
	run := func(batches ...b) []int {
		t.Helper()
		m := NewOffsetMap(1 << 20)
		for _, x := range batches {
			if err := m.Add(&x.h, x.raw); err != nil {
				t.Fatal(err)
			}
		}
		p := &Pass{Map: m, NowMs: 2, Config: storage.TopicConfig{DeleteRetentionMs: math.MaxInt64}}
		var kept []int
		for _, x := range batches {
			out, _, err := p.Retain(&x.h, x.raw)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			if out != nil {
				h, _ := recordbatch.ParseHeader(out)
				n = int(h.RecordCount)
			}
			kept = append(kept, n)
		}
		return kept
	}
	mk := func(h recordbatch.Header, raw []byte) b { return b{h, raw} }
	eq := func(what string, got, want []int) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: kept %v, want %v", what, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: kept %v records per batch, want %v", what, got, want)
			}
		}
	}
	// Committed a=1 at 0, then a transaction writes a=2 and aborts: a=1
	// stays, the aborted batch goes (kept empty: its producer's last).
	eq("aborted", run(mk(batch(0, 1, rec("a", "1"))), mk(txnBatch(1, 7, rec("a", "2"))), mk(markerAt(2, 7, false))), []int{1, 0, 1})
	// The same transaction committed replaces a=1.
	eq("committed", run(mk(batch(0, 1, rec("a", "1"))), mk(txnBatch(1, 7, rec("a", "2"))), mk(markerAt(2, 7, true))), []int{0, 1, 1})
	// Still open where the dirty part ends: a=1 stays, and so does a=2.
	eq("open", run(mk(batch(0, 1, rec("a", "1"))), mk(txnBatch(1, 7, rec("a", "2"), rec("b", "1")))), []int{1, 2})
	// Open, but a later committed record replaces its a=2 either way.
	eq("open, replaced", run(mk(txnBatch(0, 7, rec("a", "2"), rec("b", "1"))), mk(batch(2, 1, rec("a", "3")))), []int{1, 1})
	// A committed transaction's key does not replace a later record.
	eq("commit after a later write", run(mk(txnBatch(0, 7, rec("a", "2"))), mk(batch(1, 1, rec("a", "3"))), mk(markerAt(2, 7, true))), []int{0, 1, 1})
}
