package disklog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"

	"github.com/kop-project/kop/internal/bufpool"
	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

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
	v := l.viewOf(i)
	l.mu.RUnlock()
	for {
		recs, buf, found, err := v.read(offset, maxBytes, l.bufs)
		if err != nil {
			return res, l.readErr(err)
		}
		if found {
			res.Records = recs
			if pool := l.bufs; pool != nil {
				res.Release = func() { pool.Put(buf) }
			}
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
		v = l.viewOf(j)
		l.mu.RUnlock()
	}
}

// ReadRegion implements storage.RegionReader. Compacted logs are read with
// Read: their offsets have holes, so the offsets a region spans would
// overstate the records sent.
func (l *Log) ReadRegion(ctx context.Context, offset int64, maxBytes int) (storage.Region, bool, error) {
	var reg storage.Region
	if err := ctx.Err(); err != nil {
		return reg, false, err
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return reg, false, storage.ErrClosed
	}
	if l.cfg.Compact {
		l.mu.RUnlock()
		return reg, false, nil
	}
	reg.LogStartOffset, reg.HighWatermark = l.logStart, l.logEnd
	if offset < l.logStart || offset > l.logEnd {
		l.mu.RUnlock()
		return reg, false, fmt.Errorf("%w: offset %d, log is [%d, %d]", storage.ErrOffsetOutOfRange, offset, reg.LogStartOffset, reg.HighWatermark)
	}
	if offset == l.logEnd {
		l.mu.RUnlock()
		return reg, true, nil
	}
	i := max(sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })-1, 0)
	v := l.viewOf(i)
	l.mu.RUnlock()
	for {
		r, found, err := v.region(offset, maxBytes)
		if err != nil {
			return reg, false, l.readErr(err)
		}
		if found {
			r.LogStartOffset, r.HighWatermark = reg.LogStartOffset, reg.HighWatermark
			return r, true, nil
		}
		l.mu.RLock()
		base := v.s.base
		j := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > base })
		if l.closed || j >= len(l.segs) {
			l.mu.RUnlock()
			return reg, true, nil
		}
		v = l.viewOf(j)
		l.mu.RUnlock()
	}
}

// viewOf snapshots segment i's published state; l.mu must be held.
func (l *Log) viewOf(i int) segView {
	s := l.segs[i]
	return segView{s: s, size: s.size, next: s.next, index: s.index}
}

// segView is a reader's snapshot of a segment's published state.
type segView struct {
	s     *segment
	size  int64
	next  int64 // the offset after the last batch within size
	index []offsetEntry
}

// region is read's answer as a region of the segment file, pinned (the
// segment acquired) until its Release. It ends at the last batch boundary
// it knows within maxBytes: the end of the segment, or an index entry;
// at least the first batch.
func (v segView) region(offset int64, maxBytes int) (storage.Region, bool, error) {
	var r storage.Region
	if !v.s.acquire() {
		return r, false, errSegmentGone
	}
	pos, h, found, err := v.s.findBatch(v.index, v.size, offset)
	if err != nil || !found {
		v.s.release()
		return r, false, err
	}
	end, endOffset := pos+int64(h.Size()), h.NextOffset()
	if limit := pos + int64(maxBytes); limit >= v.size {
		end, endOffset = v.size, v.next
	} else if k := sort.Search(len(v.index), func(k int) bool { return int64(v.index[k].pos) > limit }); k > 0 && int64(v.index[k-1].pos) > end {
		end, endOffset = int64(v.index[k-1].pos), v.s.base+int64(v.index[k-1].rel)
	}
	r.File, r.Pos, r.Len, r.Records = v.s.f, pos, int(end-pos), endOffset-h.BaseOffset
	r.Release = v.s.release
	return r, true, nil
}

// read returns the whole batches from the one containing offset, up to
// maxBytes but at least that one batch, read with a single ReadAt into a
// buffer from pool (when not nil), which it also returns for the caller
// to give back. found is false when the segment holds no batch at or
// after offset.
func (v segView) read(offset int64, maxBytes int, pool *bufpool.Pool) (recs, buf []byte, found bool, err error) {
	if !v.s.acquire() {
		return nil, nil, false, errSegmentGone
	}
	defer v.s.release()
	pos, h, found, err := v.s.findBatch(v.index, v.size, offset)
	if err != nil || !found {
		return nil, nil, false, err
	}
	n := int(max(int64(h.Size()), min(int64(maxBytes), v.size-pos)))
	if pool != nil {
		buf = pool.Get(n)[:n]
	} else {
		buf = make([]byte, n)
	}
	if _, err := v.s.f.ReadAt(buf, pos); err != nil {
		if pool != nil {
			pool.Put(buf)
		}
		return nil, nil, false, fmt.Errorf("%w: read %s at %d: %w", storage.ErrIO, filepath.Base(v.s.path), pos, err)
	}
	return buf[:recordbatch.WholeBatches(buf)], buf, true, nil
}

// errSegmentGone: retention or Close released a segment between a
// reader's snapshot and its read.
var errSegmentGone = errors.New("disklog: segment deleted")

func (l *Log) readErr(err error) error {
	if errors.Is(err, storage.ErrIO) {
		return fmt.Errorf("partition %s: %w", partitionDir(l.tp), err)
	}
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
			views = append(views, tview{segView{s: s, size: s.size, next: s.next, index: s.index}, s.maxTs, s.timeIndex})
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
