package partition

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

// AbortedTxn is one transaction aborted on a partition: its producer, its
// first offset and the offset of its abort marker.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// TxnIndex is what a partition needs of the transaction state kept in
// Raft (implemented over raftmeta by the node): its aborted transactions,
// kept durably so read_committed fetches skip aborted records however
// old, and the start times of the transactions still open on it. A
// partition records an abort there once its marker is stored; on open it
// loads the index and adds the aborts it finds in the log's tail, which
// covers a crash between the two.
type TxnIndex interface {
	AbortedTxns(tp storage.TopicPartition) []AbortedTxn
	// AddAbortedTxns records aborts (idempotently) and drops those whose
	// marker is below pruneBefore.
	AddAbortedTxns(ctx context.Context, tp storage.TopicPartition, add []AbortedTxn, pruneBefore int64) error
	// OpenTxnStarts lists when each transaction not yet ended that
	// includes the partition began (Unix ms).
	OpenTxnStarts(tp storage.TopicPartition) []int64
}

// clockSkew is how far before a transaction's start (the coordinator's
// clock) its first record's timestamp (the producer's) may be.
const clockSkew = time.Minute

// openTxnsStart is where the replay on open must start so it sees the
// first batch of every transaction still open on the partition: the first
// batch stamped after the oldest one began (less clockSkew). Beyond the
// tail that replay reads anyway, this costs a read of what was written
// while that transaction was open, which its timeout bounds.
func (p *Partition) openTxnsStart(ctx context.Context) int64 {
	start := int64(math.MaxInt64)
	if p.m.txnIndex == nil {
		return start
	}
	for _, ms := range p.m.txnIndex.OpenTxnStarts(p.tp) {
		off, _, err := p.log.OffsetForTimestamp(ctx, ms-clockSkew.Milliseconds())
		if err != nil {
			p.m.log.Warn("finding the start of an open transaction", "topic", p.tp.Topic, "partition", p.tp.Partition, "err", err)
			continue
		}
		if off >= 0 {
			start = min(start, off)
		}
	}
	return start
}

// txnState is a partition's view of the transactions writing to it.
type txnState struct {
	// ongoing maps each producer with an open transaction here to the
	// transaction's first offset: the last stable offset is the smallest.
	ongoing map[int64]int64
	// aborted is sorted by LastOffset.
	aborted []AbortedTxn
	// unsynced are aborts not yet recorded in the index (a write failed).
	unsynced []AbortedTxn
}

// noteBatchLocked updates the transaction state with a batch given its
// offsets (h.BaseOffset set), in log order; callers hold txnMu.
func (s *txnState) noteBatchLocked(h *recordbatch.Header, raw []byte) {
	if !h.IsTransactional() {
		return
	}
	if !h.IsControl() {
		if _, open := s.ongoing[h.ProducerID]; !open {
			s.ongoing[h.ProducerID] = h.BaseOffset
		}
		return
	}
	first, open := s.ongoing[h.ProducerID]
	if !open {
		return // a marker of nothing here, or repeated after a retry
	}
	delete(s.ongoing, h.ProducerID)
	if typ, err := recordbatch.ControlType(raw); err == nil && typ == recordbatch.ControlAbort {
		a := AbortedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: h.BaseOffset}
		if s.addAbortedLocked(a) {
			s.unsynced = append(s.unsynced, a)
		}
	}
}

// addAbortedLocked adds a to the sorted list unless it is there already,
// and says whether it added it.
func (s *txnState) addAbortedLocked(a AbortedTxn) bool {
	i, found := slices.BinarySearchFunc(s.aborted, a, func(x, y AbortedTxn) int {
		if x.LastOffset != y.LastOffset {
			return int(x.LastOffset - y.LastOffset)
		}
		return int(x.ProducerID - y.ProducerID)
	})
	if !found {
		s.aborted = slices.Insert(s.aborted, i, a)
	}
	return !found
}

// LastStableOffset is the offset below which every transaction has ended:
// the first offset of the oldest open transaction, or the log end.
// read_committed consumers read below it. It never waits for an append.
func (p *Partition) LastStableOffset() int64 {
	end := p.log.LogEndOffset()
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	for _, first := range p.txn.ongoing {
		end = min(end, first)
	}
	return end
}

// AbortedTxns lists the aborted transactions with data in [from, to): what
// a read_committed Fetch returning those offsets tells the client to skip.
func (p *Partition) AbortedTxns(from, to int64) []AbortedTxn {
	p.txnMu.Lock()
	defer p.txnMu.Unlock()
	i := sort.Search(len(p.txn.aborted), func(i int) bool { return p.txn.aborted[i].LastOffset >= from })
	var out []AbortedTxn
	for _, a := range p.txn.aborted[i:] {
		if a.FirstOffset < to {
			out = append(out, a)
		}
	}
	return out
}

// WriteMarker appends a transaction marker of the producer and waits until
// it is stored; an abort is then recorded in the aborted index.
func (p *Partition) WriteMarker(ctx context.Context, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	raw := recordbatch.Marker(producerID, epoch, commit, coordinatorEpoch, time.Now().UnixMilli())
	h, err := recordbatch.ParseHeader(raw)
	if err != nil {
		return fmt.Errorf("marker batch: %w", err)
	}
	if _, err := p.AppendAsync(ctx, storage.Batch{Header: h, Raw: raw}).Wait(ctx); err != nil {
		return fmt.Errorf("append %s marker of producer %d to %s-%d: %w", markerName(commit), producerID, p.tp.Topic, p.tp.Partition, err)
	}
	return p.syncAborted(ctx)
}

func markerName(commit bool) string {
	if commit {
		return "commit"
	}
	return "abort"
}

// syncAborted records the aborts not yet in the index, and prunes the
// ones below the log start.
func (p *Partition) syncAborted(ctx context.Context) error {
	idx := p.m.txnIndex
	if idx == nil {
		return nil
	}
	p.txnMu.Lock()
	add := slices.Clone(p.txn.unsynced)
	p.txnMu.Unlock()
	if len(add) == 0 {
		return nil
	}
	if err := idx.AddAbortedTxns(ctx, p.tp, add, p.log.LogStartOffset()); err != nil {
		return fmt.Errorf("record aborted transactions of %s-%d: %w", p.tp.Topic, p.tp.Partition, err)
	}
	p.txnMu.Lock()
	p.txn.unsynced = slices.DeleteFunc(p.txn.unsynced, func(a AbortedTxn) bool { return slices.Contains(add, a) })
	p.txnMu.Unlock()
	return nil
}

// ProducerInfo is what DescribeProducers reports of one producer writing
// to a partition.
type ProducerInfo struct {
	ProducerID   int64
	Epoch        int16
	LastSequence int32
	// TxnStartOffset is the first offset of its open transaction here,
	// -1 when none is open.
	TxnStartOffset int64
}

// Producers lists the idempotent and transactional producers the
// partition keeps state for. It waits for the append lock.
func (p *Partition) Producers() []ProducerInfo {
	p.mu.Lock()
	out := make([]ProducerInfo, 0, len(p.producers))
	for id, ps := range p.producers {
		out = append(out, ProducerInfo{ProducerID: id, Epoch: ps.epoch, LastSequence: ps.lastSeq(), TxnStartOffset: -1})
	}
	p.mu.Unlock()
	p.txnMu.Lock()
	for i := range out {
		if first, open := p.txn.ongoing[out[i].ProducerID]; open {
			out[i].TxnStartOffset = first
		}
	}
	p.txnMu.Unlock()
	slices.SortFunc(out, func(a, b ProducerInfo) int { return int(a.ProducerID - b.ProducerID) })
	return out
}
