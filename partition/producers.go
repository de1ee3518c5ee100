package partition

import (
	"errors"

	"github.com/kop-project/kop/recordbatch"
)

// Errors of the idempotent producer checks, mapped by kafkaapi to
// OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH and
// UNKNOWN_PRODUCER_ID.
var (
	ErrOutOfOrderSequence   = errors.New("out of order sequence number")
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	ErrUnknownProducerID    = errors.New("unknown producer id")
)

// maxCachedBatches is how many recent batches per producer are remembered
// for duplicate detection: Kafka producers keep at most five in flight.
const maxCachedBatches = 5

type cachedBatch struct {
	firstSeq, lastSeq int32
	firstOffset       int64
	lastOffset        int64
	// pending is the append that wrote the batch when this broker did:
	// a retry waits for it and gets its result. nil for batches found
	// in the log.
	pending *Pending
}

// producerState is what the partition remembers of one producer id.
type producerState struct {
	epoch   int16
	batches []cachedBatch // oldest first
}

func (p *producerState) lastSeq() int32 {
	if len(p.batches) == 0 {
		return -1
	}
	return p.batches[len(p.batches)-1].lastSeq
}

// check decides what to do with a batch of this producer: a duplicate of a
// cached batch (returned), an error, or nil to append it.
func (p *producerState) check(h *recordbatch.Header) (*cachedBatch, error) {
	if p == nil {
		// A producer we have no state for must start at sequence 0; state
		// survives restarts because it is rebuilt from the log tail.
		if h.BaseSequence != 0 {
			return nil, ErrUnknownProducerID
		}
		return nil, nil
	}
	switch {
	case h.ProducerEpoch < p.epoch:
		return nil, ErrInvalidProducerEpoch
	case h.ProducerEpoch > p.epoch:
		if h.BaseSequence != 0 {
			return nil, ErrOutOfOrderSequence
		}
		return nil, nil
	}
	last := lastSequence(h)
	for i := range p.batches {
		b := &p.batches[i]
		if b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return b, nil
		}
	}
	if h.BaseSequence != nextSeq(p.lastSeq()) {
		return nil, ErrOutOfOrderSequence
	}
	return nil, nil
}

// record notes a batch appended (pend not nil: being appended) at
// h.BaseOffset.
func (p *producerState) record(h *recordbatch.Header, pend *Pending) {
	if h.ProducerEpoch != p.epoch {
		p.epoch = h.ProducerEpoch
		p.batches = p.batches[:0]
	}
	if len(p.batches) == maxCachedBatches {
		copy(p.batches, p.batches[1:])
		p.batches = p.batches[:maxCachedBatches-1]
	}
	p.batches = append(p.batches, cachedBatch{
		firstSeq:    h.BaseSequence,
		lastSeq:     lastSequence(h),
		firstOffset: h.BaseOffset,
		lastOffset:  h.NextOffset() - 1,
		pending:     pend,
	})
}

// nextSeq wraps as Kafka's sequences do (int32 max → 0).
func nextSeq(s int32) int32 {
	if s == 1<<31-1 {
		return 0
	}
	return s + 1
}

func lastSequence(h *recordbatch.Header) int32 {
	v := int64(h.BaseSequence) + int64(h.LastOffsetDelta)
	if v > 1<<31-1 {
		v -= 1 << 31
	}
	return int32(v)
}
