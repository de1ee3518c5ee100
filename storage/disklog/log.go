package disklog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

// Defaults for TopicConfig fields that have no meaningful zero value.
const (
	defaultSegmentBytes  = 1 << 30
	defaultIndexInterval = 4096
	defaultSegmentMs     = 7 * 24 * time.Hour / time.Millisecond
)

// normalize fills structural fields a zero TopicConfig leaves empty.
// Retention fields are taken literally (negative = unlimited).
func normalize(cfg storage.TopicConfig) storage.TopicConfig {
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = defaultSegmentBytes
	}
	// Positions in the offset index are uint32 and Kafka caps segment.bytes
	// at an int32; so do we.
	cfg.SegmentBytes = min(cfg.SegmentBytes, math.MaxInt32)
	if cfg.IndexIntervalBytes <= 0 {
		cfg.IndexIntervalBytes = defaultIndexInterval
	}
	if cfg.SegmentMs <= 0 {
		cfg.SegmentMs = int64(defaultSegmentMs)
	}
	return cfg
}

// Log is the embedded log of one partition; it implements
// storage.PartitionLog.
type Log struct {
	tp      storage.TopicPartition
	dir     string
	logger  *slog.Logger
	now     func() time.Time
	onClose func(*Log)

	// appendMu serialises everything that writes: Append, DeleteRecords,
	// retention, flushes and Close. Reads never take it.
	appendMu sync.Mutex
	active   *segment // the last segment; guarded by appendMu and mu
	failed   error    // a write that could not be undone; guarded by appendMu
	cleaner  *cleanerShared

	// flushed: offsets below it are fsynced. Written under appendMu.
	flushed atomic.Int64
	// syncs counts the fsyncs of appended data (the flush policy and
	// Flush): what the flush policies are tested by.
	syncs atomic.Int64

	mu       sync.RWMutex // guards the fields below
	cfg      storage.TopicConfig
	segs     []*segment // by base offset; the last one is active
	logStart int64
	logEnd   int64
	epochs   storage.Epochs
	// cleanedTo: offsets below it were cleaned (compacted topics).
	cleanedTo int64
	changed   chan struct{}
	closed    bool

	flushReset chan struct{} // wakes the flusher after SetConfig
	stop       chan struct{} // closed by Close
	wg         sync.WaitGroup
}

var _ storage.PartitionLog = (*Log)(nil)

// openLog opens (creating) the log in dir, recovering it when it was not
// shut down cleanly.
func openLog(dir string, tp storage.TopicPartition, cfg storage.TopicConfig, logger *slog.Logger, now func() time.Time) (*Log, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("disklog: create %s: %w", dir, err)
	}
	l := &Log{
		tp:         tp,
		dir:        dir,
		logger:     logger.With("topic", tp.Topic, "partition", tp.Partition),
		now:        now,
		cfg:        normalize(cfg),
		changed:    make(chan struct{}),
		flushReset: make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			s.closeWhenIdle()
		}
		return nil, fmt.Errorf("disklog: open %s-%d: %w", tp.Topic, tp.Partition, err)
	}
	l.wg.Add(1)
	go l.flusher()
	return l, nil
}

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

// Append implements storage.PartitionLog.
func (l *Log) Append(ctx context.Context, leaderEpoch int32, batches []storage.Batch) (storage.AppendResult, error) {
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
		return res, fmt.Errorf("disklog: log failed earlier: %w", l.failed)
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
			return res, err
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
				return res, err
			}
		}
		s := l.active
		recordbatch.SetBaseOffset(b.Raw, next)
		recordbatch.SetPartitionLeaderEpoch(b.Raw, leaderEpoch)
		if cfg.LogAppendTime {
			if err := recordbatch.SetLogAppendTime(b.Raw, res.LogAppendTime); err != nil {
				l.undo(startActive, startSegs)
				return res, fmt.Errorf("disklog: batch %d: %w", i, err)
			}
		}
		h, _ := recordbatch.ParseHeader(b.Raw) // validated above
		b.Header = h
		if _, err := s.f.WriteAt(b.Raw, s.w.size); err != nil {
			l.undo(startActive, startSegs)
			return res, fmt.Errorf("disklog: write segment %s: %w", filepath.Base(s.path), err)
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
		if err := l.active.f.Sync(); err != nil {
			// After a failed fsync the page cache state is unknown:
			// refuse further writes, as Kafka takes the log offline.
			l.failed = err
			l.undo(startActive, startSegs)
			return res, fmt.Errorf("disklog: fsync %s: %w", filepath.Base(l.active.path), err)
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

// Read implements storage.PartitionLog.
func (l *Log) Read(ctx context.Context, offset int64, maxBytes int) (storage.ReadResult, error) {
	var res storage.ReadResult
	if err := ctx.Err(); err != nil {
		return res, err
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return res, storage.ErrClosed
	}
	res.LogStartOffset, res.HighWatermark = l.logStart, l.logEnd
	if offset < l.logStart || offset > l.logEnd {
		l.mu.RUnlock()
		return res, fmt.Errorf("%w: offset %d, log is [%d, %d]", storage.ErrOffsetOutOfRange, offset, res.LogStartOffset, res.HighWatermark)
	}
	if offset == l.logEnd {
		l.mu.RUnlock()
		return res, nil
	}
	i := max(sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })-1, 0)
	v := segView{s: l.segs[i], size: l.segs[i].size, index: l.segs[i].index}
	l.mu.RUnlock()
	for {
		recs, found, err := v.read(offset, maxBytes)
		if err != nil {
			return res, l.readErr(err)
		}
		if found {
			res.Records = recs
			return res, nil
		}
		// offset falls past the last batch of its segment (or compaction
		// emptied the segment): the next one holds the next batch.
		l.mu.RLock()
		base := v.s.base
		j := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > base })
		if l.closed || j >= len(l.segs) {
			l.mu.RUnlock()
			return res, nil
		}
		v = segView{s: l.segs[j], size: l.segs[j].size, index: l.segs[j].index}
		l.mu.RUnlock()
	}
}

// segView is a reader's snapshot of a segment's published state.
type segView struct {
	s     *segment
	size  int64
	index []offsetEntry
}

// read returns the whole batches from the one containing offset, up to
// maxBytes but at least that one batch, read with a single ReadAt. found
// is false when the segment holds no batch at or after offset.
func (v segView) read(offset int64, maxBytes int) ([]byte, bool, error) {
	if !v.s.acquire() {
		return nil, false, errSegmentGone
	}
	defer v.s.release()
	pos, h, found, err := v.s.findBatch(v.index, v.size, offset)
	if err != nil || !found {
		return nil, false, err
	}
	n := max(int64(h.Size()), min(int64(maxBytes), v.size-pos))
	buf := make([]byte, n)
	if _, err := v.s.f.ReadAt(buf, pos); err != nil {
		return nil, false, fmt.Errorf("disklog: read %s at %d: %w", filepath.Base(v.s.path), pos, err)
	}
	return buf[:recordbatch.WholeBatches(buf)], true, nil
}

// errSegmentGone: retention or Close released a segment between a
// reader's snapshot and its read.
var errSegmentGone = errors.New("disklog: segment deleted")

func (l *Log) readErr(err error) error {
	if !errors.Is(err, errSegmentGone) {
		return err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return storage.ErrClosed
	}
	return fmt.Errorf("%w: data deleted by retention during the read", storage.ErrOffsetOutOfRange)
}

// LogStartOffset implements storage.PartitionLog.
func (l *Log) LogStartOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logStart
}

// LogEndOffset implements storage.PartitionLog.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logEnd
}

// OffsetForTimestamp implements storage.PartitionLog: the first segment
// whose largest timestamp reaches ts, its time index, then a scan of batch
// headers.
func (l *Log) OffsetForTimestamp(ctx context.Context, ts int64) (int64, int64, error) {
	if err := ctx.Err(); err != nil {
		return -1, -1, err
	}
	type tview struct {
		segView
		maxTs  int64
		tindex []timeEntry
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return -1, -1, storage.ErrClosed
	}
	lso := l.logStart
	var views []tview
	for _, s := range l.segs {
		if s.size > 0 && s.maxTs >= ts {
			views = append(views, tview{segView{s, s.size, s.index}, s.maxTs, s.timeIndex})
		}
	}
	l.mu.RUnlock()

	for _, v := range views {
		if !v.s.acquire() {
			continue // deleted by retention meanwhile
		}
		from := lookupPos(v.s.base, v.index, max(lookupTime(v.s.base, v.tindex, ts), lso))
		off, bts, err := scanForTime(v.s, from, v.size, ts, lso)
		v.s.release()
		if err != nil {
			return -1, -1, err
		}
		if off >= 0 {
			return off, bts, nil
		}
	}
	return -1, -1, nil
}

func scanForTime(s *segment, from, size, ts, lso int64) (int64, int64, error) {
	sc := newScanner(s.f, from, size, false)
	for {
		h, _, err := sc.next()
		if err == io.EOF {
			return -1, -1, nil
		}
		if err != nil {
			return -1, -1, err
		}
		if h.MaxTimestamp >= ts && h.NextOffset() > lso {
			return max(h.BaseOffset, lso), h.MaxTimestamp, nil
		}
	}
}

// EndOffsetForEpoch implements storage.PartitionLog.
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.EndOffset(epoch, l.logEnd)
}

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

// SetConfig implements storage.PartitionLog; changes apply to the next
// append, retention check and flush tick.
func (l *Log) SetConfig(cfg storage.TopicConfig) {
	l.mu.Lock()
	l.cfg = normalize(cfg)
	l.mu.Unlock()
	select {
	case l.flushReset <- struct{}{}:
	default:
	}
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// Changed implements storage.PartitionLog.
func (l *Log) Changed() <-chan struct{} {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.changed
}

// Flush fsyncs the appended data now.
func (l *Log) Flush() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return l.flushLocked()
}

func (l *Log) flushLocked() error {
	l.mu.RLock()
	closed, leo := l.closed, l.logEnd
	l.mu.RUnlock()
	if closed || l.failed != nil || l.flushed.Load() >= leo {
		return nil
	}
	if err := l.active.f.Sync(); err != nil {
		l.failed = err
		return fmt.Errorf("disklog: fsync %s: %w", filepath.Base(l.active.path), err)
	}
	l.syncs.Add(1)
	l.flushed.Store(leo)
	return nil
}

// flusher fsyncs every flush.ms while there is unflushed data.
func (l *Log) flusher() {
	defer l.wg.Done()
	for {
		l.mu.RLock()
		ms := l.cfg.FlushMs
		l.mu.RUnlock()
		var tick <-chan time.Time
		var t *time.Ticker
		if ms > 0 && ms < math.MaxInt64/int64(time.Millisecond) {
			t = time.NewTicker(time.Duration(ms) * time.Millisecond)
			tick = t.C
		}
		select {
		case <-l.stop:
			if t != nil {
				t.Stop()
			}
			return
		case <-l.flushReset:
		case <-tick:
			if err := l.Flush(); err != nil {
				l.logger.Error("periodic flush failed", "err", err)
			}
		}
		if t != nil {
			t.Stop()
		}
	}
}

// Close implements storage.PartitionLog: it fsyncs the data, writes the
// active segment's indexes and the clean-shutdown marker, and releases the
// files (once running reads finish). Closing twice is a no-op.
func (l *Log) Close() error {
	l.appendMu.Lock()
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		l.appendMu.Unlock()
		return nil
	}
	var errs []error
	if l.failed == nil {
		a := l.active
		indexer{base: a.base, interval: int64(l.cfg.IndexIntervalBytes)}.maybeTime(&a.w)
		errs = append(errs, a.f.Sync())
		if len(errs) == 1 && errs[0] == nil {
			errs = append(errs, writeIndexFiles(a))
		}
		if errors.Join(errs...) == nil {
			errs = append(errs, writeFileSync(filepath.Join(l.dir, cleanShutdownFile), nil), syncDir(l.dir))
		}
	}
	l.mu.Lock()
	l.closed = true
	segs := l.segs
	close(l.changed)
	l.mu.Unlock()
	close(l.stop)
	l.appendMu.Unlock()
	l.wg.Wait()
	for _, s := range segs {
		s.closeWhenIdle()
	}
	if l.onClose != nil {
		l.onClose(l)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("disklog: close %s-%d: %w", l.tp.Topic, l.tp.Partition, err)
	}
	return nil
}
