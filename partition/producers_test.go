package partition

import (
	"errors"
	"testing"

	"github.com/kop-project/kop/recordbatch"
)

func hdr(epoch int16, seq int32, n int32, base int64) *recordbatch.Header {
	return &recordbatch.Header{ProducerID: 7, ProducerEpoch: epoch, BaseSequence: seq, LastOffsetDelta: n - 1, RecordCount: n, BaseOffset: base}
}

func TestProducerSequenceRules(t *testing.T) {
	var none *producerState
	if _, err := none.check(hdr(0, 5, 1, 0)); !errors.Is(err, ErrUnknownProducerID) {
		t.Fatalf("unknown producer starting at 5: %v", err)
	}
	if dup, err := none.check(hdr(0, 0, 3, 0)); dup != nil || err != nil {
		t.Fatalf("new producer at 0: %v %v", dup, err)
	}
	p := &producerState{epoch: 0}
	p.record(hdr(0, 0, 3, 100), nil) // seq 0..2 at offsets 100..102

	// The retried batch is a duplicate: its original offsets come back.
	dup, err := p.check(hdr(0, 0, 3, 0))
	if err != nil || dup == nil || dup.firstOffset != 100 || dup.lastOffset != 102 {
		t.Fatalf("duplicate: %+v %v", dup, err)
	}
	// A gap is out of order; the next sequence is accepted.
	if _, err := p.check(hdr(0, 4, 1, 0)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap: %v", err)
	}
	if dup, err := p.check(hdr(0, 3, 2, 0)); dup != nil || err != nil {
		t.Fatalf("next: %v %v", dup, err)
	}
	// An older epoch is fenced; a newer one must start at 0.
	p.epoch = 2
	if _, err := p.check(hdr(1, 3, 1, 0)); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("old epoch: %v", err)
	}
	if _, err := p.check(hdr(3, 1, 1, 0)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("new epoch not at 0: %v", err)
	}
	if _, err := p.check(hdr(3, 0, 1, 0)); err != nil {
		t.Fatalf("new epoch at 0: %v", err)
	}
}

func TestProducerStateKeepsFiveBatches(t *testing.T) {
	p := &producerState{}
	for i := int32(0); i < 8; i++ {
		p.record(hdr(0, i, 1, int64(i)), nil)
	}
	if len(p.batches) != maxCachedBatches || p.batches[0].firstSeq != 3 || p.lastSeq() != 7 {
		t.Fatalf("cached %+v", p.batches)
	}
	if dup, _ := p.check(hdr(0, 3, 1, 0)); dup == nil {
		t.Fatal("fifth-newest batch not recognised as duplicate")
	}
	if _, err := p.check(hdr(0, 2, 1, 0)); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("evicted batch: %v", err)
	}
}

func TestSequenceWraps(t *testing.T) {
	if nextSeq(1<<31-1) != 0 {
		t.Fatal("sequence does not wrap to 0")
	}
	h := hdr(0, 1<<31-2, 4, 0)
	if got := lastSequence(h); got != 1 {
		t.Fatalf("last sequence %d, want 1", got)
	}
}
