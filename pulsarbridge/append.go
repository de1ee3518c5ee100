package pulsarbridge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

// The pipeline of one partition: appends are started in order and several
// are in flight at once, as pulsar-client-go's own producer keeps them.
const (
	// maxInflightBytes bounds the bytes of appends in flight per partition.
	maxInflightBytes = 32 << 20
	// maxPendingMessages is the producer's queue; appends wait for room
	// below it (a pulsar-format batch alone may use all of it).
	maxPendingMessages = 1000
)

// appendOp is one AppendAsync call in flight.
type appendOp struct {
	batches  []storage.Batch
	ids      []pulsar.MessageID // first Pulsar message of each batch
	res      storage.AppendResult
	next     int64 // end offset once stored
	bytes    int
	msgs     int
	unacked  int  // sends not called back yet
	started  bool // every send of the op was handed to the producer
	finished bool
	err      error // first failed send
	done     func(storage.AppendResult, error)
}

// Append implements storage.PartitionLog: AppendAsync and a wait for it;
// after an earlier failure it settles the log first.
func (l *partitionLog) Append(ctx context.Context, leaderEpoch int32, batches []storage.Batch) (storage.AppendResult, error) {
	type result struct {
		res storage.AppendResult
		err error
	}
	ch := make(chan result, 1)
	done := func(res storage.AppendResult, err error) { ch <- result{res, err} }
	err := l.AppendAsync(ctx, leaderEpoch, batches, done)
	if errors.Is(err, storage.ErrNeedsSettle) {
		if err := l.Settle(ctx); err != nil {
			return storage.AppendResult{LogAppendTime: -1}, err
		}
		err = l.AppendAsync(ctx, leaderEpoch, batches, done)
	}
	if err != nil {
		return storage.AppendResult{LogAppendTime: -1}, err
	}
	select {
	case r := <-ch:
		return r.res, r.err
	case <-ctx.Done():
		return storage.AppendResult{LogAppendTime: -1}, unavailable("waiting for Pulsar to store an append to "+l.topic, ctx.Err())
	}
}

// AppendAsync implements storage.AsyncAppender.
func (l *partitionLog) AppendAsync(ctx context.Context, leaderEpoch int32, batches []storage.Batch, done func(storage.AppendResult, error)) error {
	if len(batches) == 0 {
		return errors.New("pulsarbridge: append of no batches")
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.Lock()
	closed, fenced, broken, cfg, start := l.closed, l.fenced, l.broken, l.cfg, l.start
	latest := l.epochs.Latest()
	l.mu.Unlock()
	if closed {
		return storage.ErrClosed
	}
	if fenced != nil {
		return fenced
	}
	if broken != nil {
		return fmt.Errorf("pulsarbridge: %s: %w (%w: %v)", l.topic, storage.ErrNeedsSettle, storage.ErrUnavailable, broken)
	}
	if leaderEpoch < latest {
		return fmt.Errorf("%w: append with leader epoch %d, log is at epoch %d", storage.ErrFenced, leaderEpoch, latest)
	}
	op := &appendOp{batches: batches, ids: make([]pulsar.MessageID, len(batches)), done: done,
		res: storage.AppendResult{LogAppendTime: -1}}
	for i := range batches {
		h, err := storage.CheckBatch(batches[i].Raw, cfg)
		if err != nil {
			return fmt.Errorf("pulsarbridge: batch %d: %w", i, err)
		}
		op.bytes += h.Size()
		if l.format == "pulsar" {
			op.msgs += max(int(h.RecordCount), 1)
		} else {
			op.msgs++
		}
	}
	if err := l.waitForRoom(ctx, op); err != nil {
		return err
	}
	l.mu.Lock()
	first := l.next
	l.mu.Unlock()
	if leaderEpoch > latest && leaderEpoch >= 0 {
		// The new epoch is stored before any entry that carries it.
		l.mu.Lock()
		epochs := l.epochs.With(leaderEpoch, first)
		l.mu.Unlock()
		if err := l.saveProperties(ctx, start, epochs); err != nil {
			return err
		}
		l.mu.Lock()
		l.epochs = epochs
		l.mu.Unlock()
	}
	if cfg.LogAppendTime {
		op.res.LogAppendTime = time.Now().UnixMilli()
	}

	// Offsets are given before the sends; Pulsar keeps their order.
	type sendMsg struct {
		batch int
		m     *pulsar.ProducerMessage
	}
	var sends []sendMsg
	next := first
	for i := range batches {
		b := &batches[i]
		recordbatch.SetBaseOffset(b.Raw, next)
		recordbatch.SetPartitionLeaderEpoch(b.Raw, leaderEpoch)
		if cfg.LogAppendTime {
			if err := recordbatch.SetLogAppendTime(b.Raw, op.res.LogAppendTime); err != nil {
				return fmt.Errorf("pulsarbridge: batch %d: %w", i, err)
			}
		}
		h, _ := recordbatch.ParseHeader(b.Raw)
		b.Header = h
		next = h.NextOffset()
		if l.format == "pulsar" {
			msgs, err := recordMessages(h, b.Raw)
			if err != nil {
				return fmt.Errorf("pulsarbridge: batch %d: %w", i, err)
			}
			for _, m := range msgs {
				sends = append(sends, sendMsg{i, m})
			}
			continue
		}
		sends = append(sends, sendMsg{i, &pulsar.ProducerMessage{Payload: b.Raw}})
	}
	op.res.BaseOffset, op.res.LastOffset, op.next = first, next-1, next

	l.mu.Lock()
	l.ops = append(l.ops, op)
	l.opsBytes += op.bytes
	l.opsMsgs += op.msgs
	l.mu.Unlock()
	for k, s := range sends {
		firstOfBatch := k == 0 || sends[k-1].batch != s.batch
		l.mu.Lock()
		op.unacked++
		l.mu.Unlock()
		l.producer.SendAsync(l.sendCtx, s.m, func(id pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
			l.sent(op, s.batch, firstOfBatch, id, err)
		})
		l.mu.Lock()
		failed := op.err
		l.mu.Unlock()
		if failed == nil {
			continue
		}
		// Refused before sending (too large, producer closed): stop here.
		if k == 0 {
			// Nothing of this append was sent: forget it. Unless the
			// batch was merely too large, the producer is unusable:
			// the log settles with a new one.
			l.mu.Lock()
			l.ops = l.ops[:len(l.ops)-1]
			l.opsBytes -= op.bytes
			l.opsMsgs -= op.msgs
			if !errors.Is(failed, pulsar.ErrMessageTooLarge) && l.broken == nil && !l.closed {
				l.broken = failed
			}
			if isFenced(failed) {
				l.fenceLocked(failed)
			}
			err := l.sendErrorLocked(failed, len(batches) == 1)
			l.mu.Unlock()
			return err
		}
		break
	}
	l.mu.Lock()
	l.next = next
	op.started = true
	l.finishLocked(op)
	l.mu.Unlock()
	return nil
}

// waitForRoom waits until the pipeline has room for op (always when it is
// empty).
func (l *partitionLog) waitForRoom(ctx context.Context, op *appendOp) error {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return storage.ErrClosed
		}
		if len(l.ops) == 0 || (l.opsBytes+op.bytes <= maxInflightBytes && l.opsMsgs+op.msgs <= maxPendingMessages) {
			l.mu.Unlock()
			return nil
		}
		ch := l.opDone
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return unavailable("waiting for room in the pipeline to "+l.topic, ctx.Err())
		}
	}
}

// sent is the producer's callback for one message of op.
func (l *partitionLog) sent(op *appendOp, batch int, firstOfBatch bool, id pulsar.MessageID, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	op.unacked--
	if err != nil && op.err == nil {
		op.err = err
	}
	if err == nil && firstOfBatch {
		op.ids[batch] = id
	}
	l.finishLocked(op)
}

// finishLocked marks op finished once every send was handed over and
// called back, then completes the finished ops at the head of the
// pipeline, in order: the end offset moves and done is called.
func (l *partitionLog) finishLocked(op *appendOp) {
	if op.started && op.unacked == 0 && !op.finished {
		op.finished = true
	}
	for len(l.ops) > 0 && l.ops[0].finished {
		op := l.ops[0]
		l.ops[0] = nil
		l.ops = l.ops[1:]
		l.opsBytes -= op.bytes
		l.opsMsgs -= op.msgs
		l.signalOpDoneLocked()
		var err error
		switch {
		case op.err != nil:
			err = l.sendErrorLocked(op.err, false)
			if isFenced(op.err) {
				l.fenceLocked(op.err)
			}
			if l.broken == nil {
				// Some of the entries may be stored: the end offset is
				// read back from Pulsar when the log settles.
				l.broken = op.err
				l.log.Warn("append to Pulsar failed; the partition settles before the next append", "err", op.err)
			}
		case l.broken != nil:
			// An earlier append failed: this one may be stored after a
			// gap, so it is not acknowledged.
			err = unavailable("append to "+l.topic+" after a failed one", l.broken)
		case l.closed:
			err = storage.ErrClosed
		default:
			for i := range op.batches {
				l.sinceIndex += len(op.batches[i].Raw)
				if id := op.ids[i]; id != nil && (l.sinceIndex >= indexInterval || len(l.index) == 0 || op.batches[i].Header.BaseOffset == l.indexedFrom) {
					l.index = append(l.index, indexPoint{op.batches[i].Header.BaseOffset, id})
					l.sinceIndex = 0
				}
			}
			l.end = op.next
			op.res.LogStartOffset = l.start
			l.notifyLocked()
		}
		if err != nil {
			op.done(storage.AppendResult{LogAppendTime: -1}, err)
		} else {
			op.done(op.res, nil)
		}
	}
}

// fenceLocked records that another writer took the topic over (its
// producer forced this one's off): the log answers every later append,
// and Settle, with storage.ErrFenced, and never connects again. Only the
// partition's current leader takes a topic over, so the broker closes
// this log and opens the partition again if it still leads it.
func (l *partitionLog) fenceLocked(cause error) {
	if l.fenced != nil || l.closed {
		return
	}
	l.fenced = fmt.Errorf("pulsarbridge: %s: %w: another writer took it over: %v", l.topic, storage.ErrFenced, cause)
	l.log.Warn("another writer took the partition over: this log writes no more")
}

func (l *partitionLog) signalOpDoneLocked() {
	close(l.opDone)
	l.opDone = make(chan struct{})
}

// sendErrorLocked maps a failed send to the storage errors.
func (l *partitionLog) sendErrorLocked(err error, wholeBatch bool) error {
	switch {
	case l.closed:
		return fmt.Errorf("pulsarbridge: %s: %w: %v", l.topic, storage.ErrClosed, err)
	case isFenced(err):
		return fmt.Errorf("pulsarbridge: %s: %w: %v", l.topic, storage.ErrFenced, err)
	case errors.Is(err, pulsar.ErrMessageTooLarge) && wholeBatch && l.format == "kafka":
		return fmt.Errorf("%w: the batch exceeds Pulsar's maxMessageSize", storage.ErrMessageTooLarge)
	case errors.Is(err, pulsar.ErrMessageTooLarge):
		// A record over Pulsar's maxMessageSize (pulsar format), or a
		// batch of several: retrying cannot help.
		return fmt.Errorf("%w: a message exceeds Pulsar's maxMessageSize", storage.ErrMessageTooLarge)
	}
	return unavailable("send to "+l.topic, err)
}

// abandonOpsLocked answers every append still in flight with err: their
// producer is closed, and pulsar-client-go drops the callbacks of
// messages it had not handed to its connection yet.
func (l *partitionLog) abandonOpsLocked(err error) {
	for _, op := range l.ops {
		op.finished = true
		op.done(storage.AppendResult{LogAppendTime: -1}, err)
	}
	l.ops, l.opsBytes, l.opsMsgs = nil, 0, 0
	l.signalOpDoneLocked()
}

// settleGrace is how long Settle waits for the appends in flight after a
// failure before it closes the producer and answers the rest itself.
const settleGrace = 5 * time.Second

// Settle implements storage.AsyncAppender: it waits until no append is in
// flight and, after a failed one, recovers the end offset from Pulsar
// with a new producer.
func (l *partitionLog) Settle(ctx context.Context) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	grace := time.NewTimer(settleGrace)
	defer grace.Stop()
	for {
		l.mu.Lock()
		closed, n, fenced, broken, ch := l.closed, len(l.ops), l.fenced, l.broken, l.opDone
		l.mu.Unlock()
		if closed {
			return storage.ErrClosed
		}
		if n == 0 {
			switch {
			case fenced != nil:
				return fenced
			case broken == nil:
				return nil
			}
			return l.repair(ctx)
		}
		var graceC <-chan time.Time
		if broken != nil {
			graceC = grace.C
		}
		select {
		case <-ch:
		case <-graceC:
			// The producer failed and some of its messages are not
			// answered: close it (Pulsar persists what it accepted
			// before the close completes) and answer them here.
			l.closeProducer()
			l.mu.Lock()
			l.abandonOpsLocked(unavailable("append to "+l.topic+" after a failed one", broken))
			l.mu.Unlock()
		case <-ctx.Done():
			return unavailable("waiting for appends in flight to "+l.topic, ctx.Err())
		}
	}
}

// closeProducer closes the producer, waiting at most closeWait.
func (l *partitionLog) closeProducer() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.producer.Close()
	}()
	select {
	case <-done:
	case <-time.After(closeWait):
		l.log.Warn("closing the Pulsar producer takes long; continuing in the background")
	}
}
