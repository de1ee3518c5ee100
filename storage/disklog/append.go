package disklog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

// Append implements storage.PartitionLog.
func (l *Log) Append(ctx context.Context, leaderEpoch int32, batches []storage.Batch) (storage.AppendResult, error) {
	return l.append(ctx, leaderEpoch, batches, false)
}

// append writes batches at the log end. Unless assigned, it rewrites
// their base offset, leader epoch and (LogAppendTime topics) timestamp;
// assigned batches had that done by AppendAsync (whose caller may be
// reading them now), and must start at the log end.
func (l *Log) append(ctx context.Context, leaderEpoch int32, batches []storage.Batch, assigned bool) (storage.AppendResult, error) {
	res := storage.AppendResult{LogAppendTime: -1}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	if len(batches) == 0 {
		return res, errors.New("disklog: append of no batches")
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()

	l.mu.RLock()
	closed, cfg, leo, lso := l.closed, l.cfg, l.logEnd, l.logStart
	latest := int32(-1)
	if n := len(l.epochs); n > 0 {
		latest = l.epochs[n-1].Epoch
	}
	l.mu.RUnlock()
	if closed {
		return res, storage.ErrClosed
	}
	if l.failed != nil {
		return res, l.ioError("an earlier failure stops appends until the log is reopened", l.failed)
	}
	if leaderEpoch < latest {
		return res, fmt.Errorf("%w: append with leader epoch %d, log is at epoch %d", storage.ErrFenced, leaderEpoch, latest)
	}
	hdrs := make([]recordbatch.Header, len(batches))
	total := int64(0)
	for i := range batches {
		h, err := storage.CheckBatch(batches[i].Raw, cfg)
		if err != nil {
			return res, fmt.Errorf("disklog: batch %d: %w", i, err)
		}
		hdrs[i] = h
		total += int64(h.LastOffsetDelta) + 1
	}
	if leo+total < leo {
		return res, errors.New("disklog: offsets would overflow")
	}

	if leaderEpoch > latest && leaderEpoch >= 0 {
		// Persist the new epoch before data that carries it.
		l.mu.RLock()
		epochs := l.epochs.With(leaderEpoch, leo)
		l.mu.RUnlock()
		if err := writeEpochs(l.dir, epochs); err != nil {
			return res, l.ioError("write the leader-epoch checkpoint", err)
		}
		l.mu.Lock()
		l.epochs = epochs
		l.mu.Unlock()
	}

	now := l.now()
	if cfg.LogAppendTime {
		res.LogAppendTime = now.UnixMilli()
	}
	startSegs := len(l.segs) // only appendMu holders change the slice length
	startActive := l.active
	next := leo
	for i := range batches {
		b := &batches[i]
		size := int64(len(b.Raw))
		last := next + int64(hdrs[i].LastOffsetDelta)
		if l.shouldRoll(l.active, size, last, now, cfg) {
			if err := l.roll(next); err != nil {
				l.undo(startActive, startSegs)
				return res, l.ioError("roll a new segment", err)
			}
		}
		s := l.active
		if assigned {
			if hdrs[i].BaseOffset != next {
				l.undo(startActive, startSegs)
				return res, fmt.Errorf("disklog: batch %d was given offset %d, the log end is %d", i, hdrs[i].BaseOffset, next)
			}
		} else {
			recordbatch.SetBaseOffset(b.Raw, next)
			recordbatch.SetPartitionLeaderEpoch(b.Raw, leaderEpoch)
		}
		if cfg.LogAppendTime && !assigned {
			if err := recordbatch.SetLogAppendTime(b.Raw, res.LogAppendTime); err != nil {
				l.undo(startActive, startSegs)
				return res, fmt.Errorf("disklog: batch %d: %w", i, err)
			}
		}
		h, _ := recordbatch.ParseHeader(b.Raw) // validated above
		b.Header = h
		if _, err := s.f.WriteAt(b.Raw, s.w.size); err != nil {
			l.undo(startActive, startSegs)
			return res, l.ioError("write segment "+filepath.Base(s.path), err)
		}
		if s.w.size == 0 {
			s.w.firstAppend = now
		}
		indexer{base: s.base, interval: int64(cfg.IndexIntervalBytes)}.add(&s.w, h, s.w.size)
		next = h.NextOffset()
	}

	// fsync policy: before the data becomes visible, so a reader never
	// sees what a crash could take back when every append is synced.
	synced := false
	if cfg.FlushMessages > 0 && next-l.flushed.Load() >= cfg.FlushMessages {
		if err := l.syncActive(); err != nil {
			// After a failed fsync the page cache state is unknown:
			// refuse further writes, as Kafka takes the log offline.
			l.failed = err
			l.undo(startActive, startSegs)
			return res, l.ioError("fsync "+filepath.Base(l.active.path), err)
		}
		l.syncs.Add(1)
		synced = true
	}

	l.mu.Lock()
	for _, s := range l.segs[max(0, indexOf(l.segs, startActive)):] {
		s.publish()
	}
	l.logEnd = next
	lso = l.logStart
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	if synced {
		l.flushed.Store(next)
	}

	res.BaseOffset, res.LastOffset, res.LogStartOffset = leo, next-1, lso
	return res, nil
}

func indexOf(segs []*segment, s *segment) int {
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i] == s {
			return i
		}
	}
	return -1
}

// undo rolls back an append that failed midway: segments it created are
// removed and the segment that was active gets back its published size.
// Caller holds appendMu.
func (l *Log) undo(startActive *segment, startSegs int) {
	l.mu.Lock()
	created := slices.Clone(l.segs[startSegs:])
	l.segs = l.segs[:startSegs]
	l.active = startActive
	l.mu.Unlock()
	for _, s := range created {
		if err := s.remove(); err != nil {
			l.logger.Error("removing segment of a failed append", "segment", filepath.Base(s.path), "err", err)
		}
	}
	startActive.resetWriter()
	startActive.w.sinceIndex = startActive.size - l.lastIndexedPos(startActive)
	if err := startActive.f.Truncate(startActive.size); err != nil && l.failed == nil {
		l.failed = fmt.Errorf("disklog: truncate after failed append: %w", err)
		l.logger.Error("cannot undo failed append; log refuses writes", "err", err)
	}
}

// shouldRoll: the active segment is not empty and the batch would push it
// past segment.bytes, it is older than segment.ms, or the batch's offsets
// would not fit the index's 32-bit relative offsets.
func (l *Log) shouldRoll(s *segment, size, lastOffset int64, now time.Time, cfg storage.TopicConfig) bool {
	if s.w.size == 0 {
		return false
	}
	return s.w.size+size > cfg.SegmentBytes ||
		now.Sub(s.w.firstAppend) >= time.Duration(cfg.SegmentMs)*time.Millisecond ||
		lastOffset-s.base > math.MaxInt32
}

// roll seals the active segment (final time entry, indexes written, data
// and indexes fsynced) and starts a new one at base. Caller holds appendMu.
// The sealed segment's writer state may run ahead of its published state
// (batches of the current append); publishing happens at the end of the
// append.
func (l *Log) roll(base int64) error {
	old := l.active
	ix := indexer{base: old.base, interval: int64(l.cfg.IndexIntervalBytes)}
	ix.maybeTime(&old.w)
	if err := old.f.Sync(); err != nil {
		return fmt.Errorf("disklog: fsync segment on roll: %w", err)
	}
	if err := writeIndexFiles(old); err != nil {
		return err
	}
	s, err := createSegment(l.dir, base)
	if err != nil {
		return err
	}
	if err := syncDir(l.dir); err != nil {
		s.closeWhenIdle()
		return err
	}
	l.mu.Lock()
	l.segs = append(l.segs, s)
	l.active = s
	l.mu.Unlock()
	l.logger.Debug("rolled segment", "base", base)
	return nil
}

// writeIndexFiles writes a segment's indexes including entries still
// pending in its writer state.
func writeIndexFiles(s *segment) error {
	tmp := segment{path: s.path, index: append(slices.Clone(s.index), s.w.pendingIndex...), timeIndex: append(slices.Clone(s.timeIndex), s.w.pendingTime...)}
	return tmp.writeIndexes()
}
