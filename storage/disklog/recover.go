package disklog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// load reads the directory, recovers the tail when needed and sets the
// offsets. Called before the log is shared.
func (l *Log) load() error {
	_, err := os.Stat(filepath.Join(l.dir, cleanShutdownFile))
	clean := err == nil
	if err := l.finishCleaning(); err != nil {
		return err
	}
	if l.cleanedTo, err = readOffsetCheckpoint(l.dir, cleanerCheckpointFile); err != nil {
		return err
	}
	bases, err := l.listSegments()
	if err != nil {
		return err
	}
	if l.logStart, err = readLogStart(l.dir); err != nil {
		return err
	}
	if l.epochs, err = readEpochs(l.dir); err != nil {
		return err
	}
	if len(bases) == 0 {
		s, err := createSegment(l.dir, l.logStart)
		if err != nil {
			return err
		}
		l.segs = []*segment{s}
		// Make the new directory and file durable before any fsynced
		// append relies on them.
		if err := syncDir(l.dir); err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(l.dir)); err != nil {
			return err
		}
	}
	for i, base := range bases {
		s, size, err := openSegmentFile(l.dir, base)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		last := i == len(bases)-1
		switch {
		case last && !clean:
			if err := l.recoverSegment(s, size); err != nil {
				return err
			}
		case last:
			if err := l.loadActive(s, size); err != nil {
				return err
			}
		default:
			if err := l.loadSealed(s, size, bases[i+1]); err != nil {
				return err
			}
		}
	}
	l.active = l.segs[len(l.segs)-1]
	l.logEnd = l.active.next
	if err := l.fixOffsets(); err != nil {
		return err
	}
	l.active.resetWriter()
	if l.active.size > 0 {
		l.active.w.firstAppend = l.now()
		l.active.w.offsetOfMax = l.active.base
		if n := len(l.active.timeIndex); n > 0 {
			l.active.w.offsetOfMax = l.active.base + int64(l.active.timeIndex[n-1].rel)
		}
	}
	l.active.w.sinceIndex = l.active.size - l.lastIndexedPos(l.active)
	if !clean {
		// Whatever the previous process wrote may sit in the page cache
		// only; make it durable before calling it flushed.
		if err := l.active.f.Sync(); err != nil {
			return fmt.Errorf("disklog: fsync recovered segment: %w", err)
		}
	}
	l.flushed.Store(l.logEnd)
	// From here on a crash must be detected: drop the marker durably.
	if clean {
		if err := os.Remove(filepath.Join(l.dir, cleanShutdownFile)); err != nil {
			return fmt.Errorf("disklog: remove clean-shutdown marker: %w", err)
		}
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	return nil
}

// lastIndexedPos is the position of the last batch in the offset index.
func (l *Log) lastIndexedPos(s *segment) int64 {
	if n := len(s.index); n > 0 {
		return int64(s.index[n-1].pos)
	}
	return 0
}

// listSegments returns the base offsets of the segment files, removing
// leftovers: temporary checkpoint files and indexes without a log file.
func (l *Log) listSegments() ([]int64, error) {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("disklog: list %s: %w", l.dir, err)
	}
	logs := map[int64]bool{}
	var bases []int64
	for _, e := range ents {
		name := e.Name()
		if base, ok := parseSegmentName(name, logSuffix); ok {
			logs[base] = true
			bases = append(bases, base)
		}
	}
	for _, e := range ents {
		name := e.Name()
		orphan := false
		for _, suf := range []string{indexSuffix, timeIndexSuffix} {
			if base, ok := parseSegmentName(name, suf); ok && !logs[base] {
				orphan = true
			}
		}
		if orphan || strings.HasSuffix(name, tmpSuffix) {
			l.logger.Info("removing leftover file", "file", name)
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, fmt.Errorf("disklog: remove leftover %s: %w", name, err)
			}
		}
	}
	slices.Sort(bases)
	return bases, nil
}

func parseSegmentName(name, suffix string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, suffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	return base, err == nil && base >= 0
}

// loadSealed loads a segment that is not the last one. Segments are
// fsynced, indexes included, when rolled, so only the indexes are
// checked; they are rebuilt when missing or inconsistent.
func (l *Log) loadSealed(s *segment, size, nextBase int64) error {
	s.size, s.next = size, nextBase
	index, tindex, ok := s.readIndexes(size)
	if !ok {
		l.logger.Warn("rebuilding segment indexes", "segment", filepath.Base(s.path))
		err := l.rebuild(s, size, false)
		// A sealed segment ends where the next begins, also when
		// compaction removed its last batches.
		s.next = nextBase
		return err
	}
	s.index, s.timeIndex = index, tindex
	if n := len(tindex); n > 0 {
		s.maxTs = tindex[n-1].ts
	}
	return nil
}

// loadActive loads the last segment after a clean shutdown: trusted
// indexes, then a short scan of the batches after the last index entry to
// find the end.
func (l *Log) loadActive(s *segment, size int64) error {
	index, tindex, ok := s.readIndexes(size)
	if !ok {
		l.logger.Warn("rebuilding segment indexes", "segment", filepath.Base(s.path))
		return l.rebuild(s, size, false)
	}
	s.index, s.timeIndex = index, tindex
	if n := len(tindex); n > 0 {
		s.maxTs = tindex[n-1].ts
	}
	from := l.lastIndexedPos(s)
	sc := newScanner(s.f, from, size, false)
	end, next := from, s.base
	if n := len(index); n > 0 {
		next = s.base + int64(index[n-1].rel)
	}
	for {
		h, pos, err := sc.next()
		if err == io.EOF {
			break
		}
		if errors.Is(err, errTorn) || (err == nil && h.BaseOffset != next) {
			l.logger.Warn("truncating invalid tail after clean shutdown", "segment", filepath.Base(s.path), "position", pos, "err", err)
			break
		}
		if err != nil {
			return err
		}
		s.maxTs = max(s.maxTs, h.MaxTimestamp)
		end, next = pos+int64(h.Size()), h.NextOffset()
	}
	s.size, s.next = end, next
	if end < size {
		return truncateFile(s.f, end)
	}
	return nil
}

// recoverSegment validates every batch of the last segment after a crash:
// lengths, CRC and dense offsets. The file is truncated at the first
// invalid batch and its indexes rebuilt; leader epochs of the recovered
// batches are added to the epoch cache.
func (l *Log) recoverSegment(s *segment, size int64) error {
	l.logger.Info("recovering segment after unclean shutdown", "segment", filepath.Base(s.path), "bytes", size)
	return l.rebuild(s, size, true)
}

// rebuild scans the segment from the start, rebuilding its indexes; with
// verify it also checks CRCs and offsets, truncates at the first bad batch
// and records leader epochs.
func (l *Log) rebuild(s *segment, size int64, verify bool) error {
	ix := indexer{base: s.base, interval: int64(l.cfg.IndexIntervalBytes)}
	s.index, s.timeIndex, s.maxTs, s.size, s.next = nil, nil, -1, 0, s.base
	s.resetWriter()
	w := &s.w
	sc := newScanner(s.f, 0, size, verify)
	for {
		h, pos, err := sc.next()
		if err == io.EOF {
			break
		}
		if err == nil && verify && h.BaseOffset != w.next {
			err = fmt.Errorf("%w: batch at %d has base offset %d, expected %d", errTorn, pos, h.BaseOffset, w.next)
		}
		if err == nil && verify && h.LastOffsetDelta < 0 {
			err = fmt.Errorf("%w: batch at %d has no offsets", errTorn, pos)
		}
		if errors.Is(err, errTorn) && verify {
			l.logger.Warn("truncating torn or corrupt tail", "segment", filepath.Base(s.path), "position", pos, "dropped_bytes", size-pos, "err", err)
			break
		}
		if err != nil {
			return err
		}
		if verify {
			l.noteEpoch(h.PartitionLeaderEpoch, h.BaseOffset)
		}
		ix.add(w, h, pos)
	}
	ix.maybeTime(w)
	s.publish()
	if s.size < size {
		if err := truncateFile(s.f, s.size); err != nil {
			return err
		}
	}
	if !verify {
		// A sealed segment's rebuilt indexes are kept; the active one's
		// are written at roll or close.
		return s.writeIndexes()
	}
	return nil
}

func truncateFile(f *os.File, size int64) error {
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("disklog: truncate %s: %w", filepath.Base(f.Name()), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("disklog: fsync %s: %w", filepath.Base(f.Name()), err)
	}
	return nil
}

// noteEpoch adds epoch to the in-memory cache when it is newer than the
// latest one. Used while loading.
func (l *Log) noteEpoch(epoch int32, start int64) {
	if epoch < 0 {
		return
	}
	l.epochs = l.epochs.With(epoch, start)
}

// fixOffsets reconciles the log start offset, the segments and the epoch
// cache after loading.
func (l *Log) fixOffsets() error {
	if l.logStart > l.logEnd {
		// DeleteRecords was made durable but the data it skipped was
		// lost: start an empty log there, so offsets never go back.
		l.logger.Warn("log start offset beyond recovered end; starting empty log there", "log_start", l.logStart, "log_end", l.logEnd)
		for _, s := range l.segs {
			if err := s.remove(); err != nil {
				return err
			}
		}
		s, err := createSegment(l.dir, l.logStart)
		if err != nil {
			return err
		}
		l.segs, l.active, l.logEnd = []*segment{s}, s, l.logStart
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	l.logStart = max(l.logStart, l.segs[0].base)
	// Segments wholly below the start: a crash came between moving the
	// start and deleting them.
	k := 0
	for k < len(l.segs)-1 && l.segs[k].next <= l.logStart {
		k++
	}
	for _, s := range l.segs[:k] {
		if err := s.remove(); err != nil {
			return err
		}
	}
	l.segs = l.segs[k:]
	// Epochs that started at or after the end lost their data.
	before := len(l.epochs)
	l.epochs = l.epochs.Before(l.logEnd)
	changed := len(l.epochs) != before
	if l.truncateEpochsFromStart() {
		changed = true
	}
	if changed || !fileExists(filepath.Join(l.dir, epochCheckpointFile)) && len(l.epochs) > 0 {
		return writeEpochs(l.dir, l.epochs)
	}
	return nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// truncateEpochsFromStart drops epochs that ended before the log start
// and moves the first remaining one's start up to it, as Kafka does.
func (l *Log) truncateEpochsFromStart() bool {
	changed := false
	for len(l.epochs) > 1 && l.epochs[1].Start <= l.logStart {
		l.epochs = l.epochs[1:]
		changed = true
	}
	if len(l.epochs) > 0 && l.epochs[0].Start < l.logStart {
		l.epochs[0].Start = l.logStart
		changed = true
	}
	return changed
}

// ---- PartitionLog ----
