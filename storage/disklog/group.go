package disklog

import (
	"context"
	"errors"
	"fmt"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

// Group commit (storage.AsyncAppender). AppendAsync gives the batches
// their offsets and queues them; one drainer per log appends everything
// queued with one Append — one write pass and one fsync for all of it —
// while later appends queue behind it, and then calls their done
// callbacks, in order. An append is acknowledged only once the Append
// that carried it returned, so exactly when a lone Append would be: its
// data fsynced (under the flush policy) and visible to readers. What
// changes is that the partition layer starts the next append (the
// connection's next produce request, another producer's) without waiting
// for the previous fsync, and small batches share fsyncs instead of each
// paying one.

// queued is one AppendAsync waiting for the drainer.
type queued struct {
	epoch   int32
	batches []storage.Batch
	base    int64 // the first offset, assigned by AppendAsync
	records int64 // the offsets the batches take
	// appendTime is the LogAppendTime AppendAsync wrote into the
	// batches (ms), -1 when the topic uses CreateTime.
	appendTime int64
	done       func(storage.AppendResult, error)
}

// groupState is the queue of a log's appends; its own lock, never held
// across an Append.
type groupState struct {
	queue    []queued
	next     int64 // offset after everything appended or queued, while busy
	draining bool
	failed   error         // an append failed: AppendAsync refuses until Settle
	idle     chan struct{} // closed when the drainer stops; nil when none waits
}

// AppendAsync implements storage.AsyncAppender.
func (l *Log) AppendAsync(ctx context.Context, leaderEpoch int32, batches []storage.Batch, done func(storage.AppendResult, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(batches) == 0 {
		return errors.New("disklog: append of no batches")
	}
	l.mu.RLock()
	closed, cfg := l.closed, l.cfg
	l.mu.RUnlock()
	if closed {
		return storage.ErrClosed
	}
	deltas := make([]int64, len(batches))
	total := int64(0)
	for i := range batches {
		h, err := storage.CheckBatch(batches[i].Raw, cfg)
		if err != nil {
			return fmt.Errorf("disklog: batch %d: %w", i, err)
		}
		deltas[i] = int64(h.LastOffsetDelta)
		total += deltas[i] + 1
	}

	l.groupMu.Lock()
	defer l.groupMu.Unlock()
	g := &l.group
	if g.failed != nil {
		return fmt.Errorf("%w: %v", storage.ErrNeedsSettle, g.failed)
	}
	if !g.draining {
		g.next = l.LogEndOffset() // nothing queued or being appended
	}
	base := g.next
	off := base
	appendTime := int64(-1)
	if cfg.LogAppendTime {
		appendTime = l.now().UnixMilli()
	}
	for i := range batches {
		recordbatch.SetBaseOffset(batches[i].Raw, off)
		recordbatch.SetPartitionLeaderEpoch(batches[i].Raw, leaderEpoch)
		if appendTime >= 0 {
			if err := recordbatch.SetLogAppendTime(batches[i].Raw, appendTime); err != nil {
				return fmt.Errorf("disklog: batch %d: %w", i, err)
			}
		}
		off += deltas[i] + 1
	}
	g.next = off
	g.queue = append(g.queue, queued{epoch: leaderEpoch, batches: batches, base: base, records: total, appendTime: appendTime, done: done})
	if !g.draining {
		g.draining = true
		go l.drain()
	}
	return nil
}

// drain appends what is queued, a run of one leader epoch at a time, until
// the queue is empty or an append failed (which fails everything queued
// after it too).
func (l *Log) drain() {
	for {
		l.groupMu.Lock()
		g := &l.group
		if len(g.queue) == 0 {
			g.draining = false
			if g.idle != nil {
				close(g.idle)
				g.idle = nil
			}
			l.groupMu.Unlock()
			return
		}
		n := 1
		for n < len(g.queue) && g.queue[n].epoch == g.queue[0].epoch {
			n++
		}
		run := g.queue[:n:n]
		g.queue = g.queue[n:]
		l.groupMu.Unlock()

		// A slice of our own: append records each batch's header in it.
		var batches []storage.Batch
		for _, q := range run {
			batches = append(batches, q.batches...)
		}
		// The offsets, epoch and append time are in the batches already
		// (their callers may be reading them). The context is checked
		// only as the append starts: the appends in the run were
		// started already.
		// append refuses (and undoes) batches whose assigned offset is not
		// the log end, so on success they landed where their callers were
		// told.
		res, err := l.append(context.Background(), run[0].epoch, batches, true)
		if err != nil {
			l.groupMu.Lock()
			g.failed = err
			failing := append(run, g.queue...)
			g.queue = nil
			l.groupMu.Unlock()
			for _, q := range failing {
				q.done(storage.AppendResult{LogAppendTime: -1}, err)
			}
			continue // to the empty queue: the drainer stops
		}
		for _, q := range run {
			q.done(storage.AppendResult{BaseOffset: q.base, LastOffset: q.base + q.records - 1,
				LogAppendTime: q.appendTime, LogStartOffset: res.LogStartOffset}, nil)
		}
	}
}

// Settle implements storage.AsyncAppender: it waits until no append is
// queued or being appended, then accepts appends again after a failure
// (the log undid the failed write; it refuses writes for good only when
// it could not, which Append reports).
func (l *Log) Settle(ctx context.Context) error {
	for {
		l.groupMu.Lock()
		g := &l.group
		if !g.draining {
			g.failed = nil
			l.groupMu.Unlock()
			return nil
		}
		if g.idle == nil {
			g.idle = make(chan struct{})
		}
		idle := g.idle
		l.groupMu.Unlock()
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
