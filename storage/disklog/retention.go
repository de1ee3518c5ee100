package disklog

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/kop-project/kop/storage"
)

// DeleteRecords implements storage.PartitionLog. The new start offset is
// checkpointed before it is used; segments wholly below it are deleted
// (the active one is rolled first when everything is deleted).
func (l *Log) DeleteRecords(ctx context.Context, before int64) (int64, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	closed, lso, leo := l.closed, l.logStart, l.logEnd
	l.mu.RUnlock()
	if closed {
		return -1, storage.ErrClosed
	}
	if before < 0 || before > leo {
		return lso, fmt.Errorf("%w: delete before %d, log is [%d, %d]", storage.ErrOffsetOutOfRange, before, lso, leo)
	}
	if before <= lso {
		return lso, nil
	}
	if err := writeLogStart(l.dir, before); err != nil {
		return lso, err
	}
	l.mu.Lock()
	l.logStart = before
	epochsChanged := l.truncateEpochsFromStart()
	epochs := slices.Clone(l.epochs)
	l.mu.Unlock()
	if epochsChanged {
		if err := writeEpochs(l.dir, epochs); err != nil {
			return before, err
		}
	}
	if before == leo && l.active.size > 0 && l.failed == nil {
		old := l.active
		if err := l.roll(leo); err != nil {
			return before, err
		}
		l.mu.Lock()
		old.publish() // the final time index entry roll added
		l.mu.Unlock()
	}
	return before, l.deletePrefix(func(s *segment, _ int64) bool { return s.next <= before }, "log start offset")
}

// deletePrefix deletes the longest run of oldest non-active segments for
// which del is true (given each segment and the bytes of the log from it
// on). Caller holds appendMu.
func (l *Log) deletePrefix(del func(s *segment, sizeFromHere int64) bool, reason string) error {
	l.mu.Lock()
	total := int64(0)
	for _, s := range l.segs {
		total += s.size
	}
	k := 0
	for ; k < len(l.segs)-1 && del(l.segs[k], total); k++ {
		total -= l.segs[k].size
	}
	gone := slices.Clone(l.segs[:k])
	l.segs = slices.Clone(l.segs[k:])
	if k > 0 {
		l.logStart = max(l.logStart, l.segs[0].base)
	}
	epochsChanged := k > 0 && l.truncateEpochsFromStart()
	epochs := slices.Clone(l.epochs)
	l.mu.Unlock()
	var errs []error
	for _, s := range gone {
		l.logger.Info("deleting segment", "segment", filepath.Base(s.path), "reason", reason)
		errs = append(errs, s.remove())
	}
	if epochsChanged {
		errs = append(errs, writeEpochs(l.dir, epochs))
	}
	return errors.Join(errs...)
}

// enforceRetention deletes old segments by time (retention.ms against
// each segment's largest timestamp) and size (retention.bytes for the
// whole partition). The active segment is never deleted.
func (l *Log) enforceRetention() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	closed, cfg := l.closed, l.cfg
	l.mu.RUnlock()
	if closed {
		return nil
	}
	nowMs := l.now().UnixMilli()
	var errs []error
	if cfg.RetentionMs >= 0 {
		errs = append(errs, l.deletePrefix(func(s *segment, _ int64) bool {
			return s.maxTs < nowMs-cfg.RetentionMs
		}, "retention.ms"))
	}
	if cfg.RetentionBytes >= 0 {
		errs = append(errs, l.deletePrefix(func(s *segment, size int64) bool {
			return size-s.size >= cfg.RetentionBytes
		}, "retention.bytes"))
	}
	return errors.Join(errs...)
}
