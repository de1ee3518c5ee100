package disklog

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/compaction"
)

// Log compaction (cleanup.policy=compact), as Kafka's log cleaner does it:
//
//  1. The dirty part of the log is the sealed segments from the cleaner
//     checkpoint (the first offset not yet cleaned) up to the first segment
//     younger than min.compaction.lag.ms; the active segment is never
//     cleaned.
//  2. An offset map, key hash → latest offset, is built over the dirty
//     segments, whole segments at a time, until the map would exceed its
//     share of the dedupe buffer (Options.DedupeBufferSize).
//  3. Every sealed segment from the start of the log to the end of the
//     mapped part is rewritten, in groups that fit segment.bytes, keeping a
//     record unless the map holds a later offset for its key, it has no key,
//     or it is a tombstone that was already in the cleaned part and is older
//     than delete.retention.ms. Batches keep their offsets (recordbatch.Filter);
//     a batch left with no record is dropped; control batches are kept.
//  4. Each group is written to "<base>.cleaned", fsynced, renamed to
//     "<base>-<next>.swap" (the commit point: on load a swap file replaces
//     the segments in [base, next)), the old segments' files are removed and
//     the swap file becomes "<base>.log". Then the checkpoint moves.
//
// A crash at any point leaves either the old segments or the cleaned one;
// nothing current is lost, and a pass that did not checkpoint is redone.

const (
	cleanerCheckpointFile = "cleaner-offset-checkpoint"
	cleanedSuffix         = ".cleaned"
	swapSuffix            = ".swap"
)

// cleanerShared is what the logs of one Backend share for cleaning: one
// pass runs at a time, so the offset maps never exceed the dedupe buffer.
type cleanerShared struct {
	mu          sync.Mutex
	bufferBytes int64 // the offset map's budget
	totals      compaction.Totals
}

// segSnap is a sealed segment and its published extent, taken under
// appendMu so no append is half-published.
type segSnap struct {
	s     *segment
	size  int64
	next  int64
	maxTs int64
}

// Compact implements storage.Compactor: one cleaning pass now, whatever
// the dirty ratio.
func (l *Log) Compact(ctx context.Context) (storage.CompactStats, error) {
	return l.clean(ctx, true)
}

// clean runs one pass; unless force, only when the dirty ratio or
// max.compaction.lag.ms asks for it.
func (l *Log) clean(ctx context.Context, force bool) (stats storage.CompactStats, err error) {
	sh := l.cleaner
	if sh == nil {
		sh = &cleanerShared{bufferBytes: compaction.DefaultBufferBytes}
	}
	l.mu.RLock()
	compact := l.cfg.Compact
	l.mu.RUnlock()
	if !compact {
		return stats, nil // nothing to clean; appends are not held up
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	defer func() { sh.totals.Add(stats, err) }()

	l.appendMu.Lock()
	l.mu.RLock()
	closed, cfg, cleanedTo := l.closed, l.cfg, l.cleanedTo
	snaps := make([]segSnap, 0, len(l.segs)-1)
	for _, s := range l.segs[:len(l.segs)-1] {
		snaps = append(snaps, segSnap{s: s, size: s.size, next: s.next, maxTs: s.maxTs})
	}
	l.mu.RUnlock()
	l.appendMu.Unlock()
	stats.CleanedTo = cleanedTo
	if closed {
		return stats, storage.ErrClosed
	}
	if !cfg.Compact || len(snaps) == 0 {
		return stats, nil
	}
	now := l.now().UnixMilli()
	first := 0
	for first < len(snaps) && snaps[first].next <= cleanedTo {
		first++
	}
	last := first
	for last < len(snaps) && compaction.Cleanable(cfg, snaps[last].maxTs, now) {
		last++
	}
	if last == first || !force && !l.cleaningDue(snaps, first, last, cfg, now) {
		return stats, nil
	}
	for i, sn := range snaps[:last] {
		if !sn.s.acquire() {
			for _, done := range snaps[:i] {
				done.s.release()
			}
			return stats, nil // retention or Close took it; next pass
		}
	}
	defer func() {
		for _, sn := range snaps[:last] {
			sn.s.release()
		}
	}()
	start := time.Now()

	pass := &compaction.Pass{Map: compaction.NewOffsetMap(sh.bufferBytes), CleanedTo: cleanedTo, NowMs: now, Config: cfg}
	mapped := first
	for ; mapped < last; mapped++ {
		sn := snaps[mapped]
		if mapped > first && !pass.Map.Fits(sn.next-sn.s.base) {
			break
		}
		err := forEachBatch(ctx, sn, func(h recordbatch.Header, raw []byte) error { return pass.Map.Add(&h, raw) })
		if err != nil {
			return stats, fmt.Errorf("disklog: clean %s: map %s: %w", partitionDir(l.tp), filepath.Base(sn.s.path), err)
		}
		stats.BytesRead += sn.size
	}
	mapEnd := snaps[mapped-1].next

	for _, g := range groupSegments(snaps[:mapped], cfg.SegmentBytes) {
		if err := l.cleanGroup(ctx, g, int64(cfg.IndexIntervalBytes), pass, &stats); err != nil {
			return stats, fmt.Errorf("disklog: clean %s: %w", partitionDir(l.tp), err)
		}
	}
	if err := writeOffsetCheckpoint(l.dir, cleanerCheckpointFile, mapEnd); err != nil {
		return stats, err
	}
	l.mu.Lock()
	l.cleanedTo = max(l.cleanedTo, mapEnd)
	l.mu.Unlock()
	stats.CleanedTo = mapEnd
	l.logger.Info("cleaned compacted log", "cleaned_to", mapEnd, "keys", pass.Map.Len(), "segments", mapped,
		"bytes_read", stats.BytesRead, "bytes_written", stats.BytesWritten,
		"records_removed", stats.RecordsRemoved, "batches_removed", stats.BatchesRemoved, "took", time.Since(start))
	return stats, nil
}

// cleaningDue: the dirty share of the cleanable bytes reached
// min.cleanable.dirty.ratio, or the oldest dirty batch is older than
// max.compaction.lag.ms.
func (l *Log) cleaningDue(snaps []segSnap, first, last int, cfg storage.TopicConfig, now int64) bool {
	var clean, dirty int64
	for i, sn := range snaps[:last] {
		if i < first {
			clean += sn.size
		} else {
			dirty += sn.size
		}
	}
	if compaction.Due(cfg, clean, dirty) {
		return true
	}
	var hb [recordbatch.HeaderSize]byte
	sn := snaps[first]
	if !sn.s.acquire() {
		return false
	}
	defer sn.s.release()
	if _, err := sn.s.f.ReadAt(hb[:], 0); err != nil {
		return false
	}
	h, err := recordbatch.PeekHeader(hb[:])
	return err == nil && compaction.Overdue(cfg, h.MaxTimestamp, now)
}

// groupSegments splits segments into runs that are rewritten into one
// segment each: at most segment.bytes of input and an offset span that
// fits the index's relative offsets.
func groupSegments(snaps []segSnap, segmentBytes int64) [][]segSnap {
	var groups [][]segSnap
	for i := 0; i < len(snaps); {
		j, size := i+1, snaps[i].size
		for j < len(snaps) && size+snaps[j].size <= segmentBytes && snaps[j].next-snaps[i].s.base <= math.MaxInt32 {
			size += snaps[j].size
			j++
		}
		groups = append(groups, snaps[i:j])
		i = j
	}
	return groups
}

// forEachBatch calls fn with every batch of the sealed segment (the bytes
// are reused between calls).
func forEachBatch(ctx context.Context, sn segSnap, fn func(recordbatch.Header, []byte) error) error {
	sc := newScanner(sn.s.f, 0, sn.size, false)
	var buf []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, b, err := sc.nextWhole(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(h, b); err != nil {
			return err
		}
		buf = b
	}
}

// cleanGroup rewrites one group of segments into a cleaned segment and
// swaps it in. The swap is skipped when retention or Close changed the
// segments meanwhile.
func (l *Log) cleanGroup(ctx context.Context, g []segSnap, indexInterval int64, pass *compaction.Pass, stats *storage.CompactStats) error {
	base, next := g[0].s.base, g[len(g)-1].next
	path := segmentPath(l.dir, base)
	f, err := os.OpenFile(path+cleanedSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create cleaned segment: %w", err)
	}
	ns := &segment{base: base, path: path, f: f, next: base, maxTs: -1}
	ns.resetWriter()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(path + cleanedSuffix)
		}
	}()
	ix := indexer{base: base, interval: indexInterval}
	w := bufio.NewWriterSize(f, 256<<10)
	var written int64
	for _, sn := range g {
		err := forEachBatch(ctx, sn, func(h recordbatch.Header, raw []byte) error {
			out, removed, err := pass.Retain(&h, raw)
			if err != nil {
				return err
			}
			stats.RecordsRemoved += int64(removed)
			if out == nil {
				stats.BatchesRemoved++
				return nil
			}
			oh, err := recordbatch.ParseHeader(out)
			if err != nil {
				return err
			}
			if _, err := w.Write(out); err != nil {
				return fmt.Errorf("write cleaned segment: %w", err)
			}
			ix.add(&ns.w, oh, written)
			written += int64(len(out))
			return nil
		})
		if err != nil {
			return err
		}
	}
	ix.maybeTime(&ns.w)
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write cleaned segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync cleaned segment: %w", err)
	}
	stats.BytesWritten += written

	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.mu.RLock()
	i := indexOf(l.segs, g[0].s)
	valid := !l.closed && i >= 0 && i+len(g) < len(l.segs)
	for k := 0; valid && k < len(g); k++ {
		valid = l.segs[i+k] == g[k].s
	}
	l.mu.RUnlock()
	if !valid {
		return nil
	}
	swap := filepath.Join(l.dir, swapName(base, next))
	if err := os.Rename(path+cleanedSuffix, swap); err != nil {
		return fmt.Errorf("commit cleaned segment: %w", err)
	}
	ok = true // from here the swap file is the segment's data
	if err := syncDir(l.dir); err != nil {
		return l.failSwap(err)
	}
	for _, sn := range g {
		if err := removeSegmentFiles(sn.s.path); err != nil {
			return l.failSwap(err)
		}
	}
	if err := os.Rename(swap, path+logSuffix); err != nil {
		return l.failSwap(fmt.Errorf("install cleaned segment: %w", err))
	}
	ns.publish()
	ns.next = next
	if err := ns.writeIndexes(); err != nil {
		return l.failSwap(err)
	}
	if err := syncDir(l.dir); err != nil {
		return l.failSwap(err)
	}
	l.mu.Lock()
	l.segs = slices.Concat(l.segs[:i], []*segment{ns}, l.segs[i+len(g):])
	l.mu.Unlock()
	for _, sn := range g {
		sn.s.closeWhenIdle()
	}
	return nil
}

// failSwap: a swap that failed after its commit point leaves files the
// running log no longer matches; appends stop until the log is reopened,
// whose load completes the swap. Caller holds appendMu.
func (l *Log) failSwap(err error) error {
	l.failed = fmt.Errorf("disklog: cleaning swap failed, reopen the log: %w", err)
	return l.failed
}

func swapName(base, next int64) string { return fmt.Sprintf("%020d-%020d%s", base, next, swapSuffix) }

func parseSwapName(name string) (base, next int64, ok bool) {
	s, ok := strings.CutSuffix(name, swapSuffix)
	if !ok {
		return 0, 0, false
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok || len(a) != 20 || len(b) != 20 {
		return 0, 0, false
	}
	base, err1 := strconv.ParseInt(a, 10, 64)
	next, err2 := strconv.ParseInt(b, 10, 64)
	return base, next, err1 == nil && err2 == nil && base >= 0 && next > base
}

// finishCleaning completes what a crash interrupted, before the segments
// are listed: a swap file replaces the segments of its range; a cleaned
// segment not yet committed is removed.
func (l *Log) finishCleaning() error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("disklog: list %s: %w", l.dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, cleanedSuffix) {
			l.logger.Info("removing an unfinished cleaned segment", "file", name)
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
				return fmt.Errorf("disklog: remove %s: %w", name, err)
			}
			continue
		}
		base, next, ok := parseSwapName(name)
		if !ok {
			continue
		}
		l.logger.Info("completing an interrupted cleaning swap", "file", name)
		for _, o := range ents {
			if b, ok := parseSegmentName(o.Name(), logSuffix); ok && b >= base && b < next {
				if err := removeSegmentFiles(segmentPath(l.dir, b)); err != nil {
					return err
				}
			}
		}
		if err := os.Rename(filepath.Join(l.dir, name), segmentPath(l.dir, base)+logSuffix); err != nil {
			return fmt.Errorf("disklog: complete swap %s: %w", name, err)
		}
		if err := syncDir(l.dir); err != nil {
			return err
		}
	}
	return nil
}
