package disklog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/kop-project/kop/recordbatch"
)

const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"

	offsetEntrySize = 8  // relative offset uint32 | position uint32
	timeEntrySize   = 12 // maxTimestamp int64 | relative offset uint32
)

// errTorn marks a batch that is cut short or fails validation while
// scanning a segment: the valid data ends before it.
var errTorn = errors.New("disklog: torn or corrupt batch")

type offsetEntry struct {
	rel uint32 // offset - segment base
	pos uint32 // byte position of the batch in the segment file
}

type timeEntry struct {
	ts  int64  // largest batch maxTimestamp up to rel
	rel uint32 // relative offset of the first batch with that maxTimestamp
}

// segment is one log file and its indexes. The base offset names the files.
//
// Fields in the "published" group are what readers see: written with
// Log.mu held for writing, read with Log.mu held (or after copying them
// out under it). Fields in the "writer" group belong to the appender (held
// under Log.appendMu) and run ahead of the published ones during an append.
type segment struct {
	base int64
	path string // file path without suffix
	f    *os.File

	// published
	size      int64 // bytes of whole batches visible to readers
	next      int64 // offset after the last visible batch
	maxTs     int64 // largest batch maxTimestamp; -1 when empty
	index     []offsetEntry
	timeIndex []timeEntry

	// writer state
	w writerState

	// reference counting, so retention or Close never closes a file under
	// a running Read.
	refMu   sync.Mutex
	refs    int
	closing bool
	closed  bool
}

type writerState struct {
	size         int64
	next         int64
	maxTs        int64
	offsetOfMax  int64 // first offset reaching maxTs
	sinceIndex   int64 // bytes appended since the last offset index entry
	firstAppend  time.Time
	pendingIndex []offsetEntry
	pendingTime  []timeEntry
	lastTimeTs   int64 // timestamp of the last time index entry, published or pending
}

func segmentPath(dir string, base int64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d", base))
}

// createSegment creates an empty segment file (truncating a leftover one).
func createSegment(dir string, base int64) (*segment, error) {
	s := &segment{base: base, path: segmentPath(dir, base), next: base, maxTs: -1}
	f, err := os.OpenFile(s.path+logSuffix, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("disklog: create segment: %w", err)
	}
	s.f = f
	for _, suf := range []string{indexSuffix, timeIndexSuffix} {
		if err := os.Remove(s.path + suf); err != nil && !errors.Is(err, os.ErrNotExist) {
			f.Close()
			return nil, fmt.Errorf("disklog: remove stale index: %w", err)
		}
	}
	s.resetWriter()
	return s, nil
}

// openSegmentFile opens an existing segment's log file; indexes are loaded
// separately.
func openSegmentFile(dir string, base int64) (*segment, int64, error) {
	s := &segment{base: base, path: segmentPath(dir, base), next: base, maxTs: -1}
	f, err := os.OpenFile(s.path+logSuffix, os.O_RDWR, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("disklog: open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("disklog: stat segment: %w", err)
	}
	s.f = f
	return s, st.Size(), nil
}

// resetWriter makes the writer state match the published state.
func (s *segment) resetWriter() {
	s.w.size, s.w.next, s.w.maxTs = s.size, s.next, s.maxTs
	s.w.offsetOfMax = -1
	s.w.pendingIndex, s.w.pendingTime = nil, nil
	s.w.lastTimeTs = -1
	if n := len(s.timeIndex); n > 0 {
		s.w.lastTimeTs = s.timeIndex[n-1].ts
	}
}

func (s *segment) acquire() bool {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	if s.closing {
		return false
	}
	s.refs++
	return true
}

func (s *segment) release() {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	s.refs--
	if s.closing && s.refs == 0 {
		s.closeFileLocked()
	}
}

// closeWhenIdle closes the file now or when the last reader releases it.
func (s *segment) closeWhenIdle() {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	s.closing = true
	if s.refs == 0 {
		s.closeFileLocked()
	}
}

func (s *segment) closeFileLocked() {
	if !s.closed {
		s.closed = true
		_ = s.f.Close() // read-only use remains; a close error loses nothing
	}
}

// remove unlinks the segment's files; open readers keep reading the
// unlinked file until they release it.
func (s *segment) remove() error {
	err := removeSegmentFiles(s.path)
	s.closeWhenIdle()
	return err
}

// removeSegmentFiles unlinks the log and index files of the segment at
// path (segmentPath); missing ones are no error.
func removeSegmentFiles(path string) error {
	var errs []error
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		if err := os.Remove(path + suf); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// lookupPos returns the position of the last indexed batch whose base
// offset is <= target, or 0.
func lookupPos(base int64, index []offsetEntry, target int64) int64 {
	i := sort.Search(len(index), func(i int) bool { return base+int64(index[i].rel) > target })
	if i == 0 {
		return 0
	}
	return int64(index[i-1].pos)
}

// lookupTime returns the offset from which to scan for the first batch
// with maxTimestamp >= ts: that of the last time index entry whose
// timestamp is < ts (every batch before it has a smaller maxTimestamp), or
// the segment base.
func lookupTime(base int64, tindex []timeEntry, ts int64) int64 {
	i := sort.Search(len(tindex), func(i int) bool { return tindex[i].ts >= ts })
	if i == 0 {
		return base
	}
	return base + int64(tindex[i-1].rel)
}

// scanner walks the batches of a segment file sequentially with buffered
// reads, optionally verifying each batch's CRC without holding the batch
// in memory.
type scanner struct {
	r      *bufio.Reader
	pos    int64
	end    int64
	verify bool
	hdr    [recordbatch.HeaderSize]byte
}

func newScanner(f *os.File, from, to int64, verify bool) *scanner {
	return &scanner{
		r:      bufio.NewReaderSize(io.NewSectionReader(f, from, to-from), 64<<10),
		pos:    from,
		end:    to,
		verify: verify,
	}
}

// next returns the header and position of the next batch; io.EOF at a
// clean end; an errTorn error when the rest of the file is not a valid
// batch; other errors for I/O failures.
func (sc *scanner) next() (recordbatch.Header, int64, error) {
	h, err := sc.header()
	if err != nil {
		return h, sc.pos, err
	}
	body := int64(h.Size()) - recordbatch.HeaderSize
	if sc.verify {
		c := recordbatch.NewCRC()
		c.Write(sc.hdr[recordbatch.CRCStart:])
		if _, err := io.CopyN(c, sc.r, body); err != nil {
			return h, sc.pos, fmt.Errorf("disklog: read batch at %d: %w", sc.pos, err)
		}
		if c.Sum32() != h.CRC {
			return h, sc.pos, fmt.Errorf("%w: crc mismatch in batch at %d", errTorn, sc.pos)
		}
	} else if _, err := sc.r.Discard(int(body)); err != nil {
		return h, sc.pos, fmt.Errorf("disklog: skip batch at %d: %w", sc.pos, err)
	}
	pos := sc.pos
	sc.pos += int64(h.Size())
	return h, pos, nil
}

// nextWhole is next returning the whole batch too, read into buf (grown
// as needed; the cleaner reuses it between calls). It does not verify.
func (sc *scanner) nextWhole(buf []byte) (recordbatch.Header, []byte, error) {
	h, err := sc.header()
	if err != nil {
		return h, buf, err
	}
	buf = append(slices.Grow(buf[:0], h.Size()), sc.hdr[:]...)[:h.Size()]
	if _, err := io.ReadFull(sc.r, buf[recordbatch.HeaderSize:]); err != nil {
		return h, buf, fmt.Errorf("disklog: read batch at %d: %w", sc.pos, err)
	}
	sc.pos += int64(h.Size())
	return h, buf, nil
}

// header reads and checks the next batch's header: io.EOF at a clean end,
// errTorn when the rest of the file cannot be a batch of the size it says.
func (sc *scanner) header() (recordbatch.Header, error) {
	var h recordbatch.Header
	if sc.pos == sc.end {
		return h, io.EOF
	}
	if sc.end-sc.pos < recordbatch.HeaderSize {
		return h, fmt.Errorf("%w: %d stray bytes at %d", errTorn, sc.end-sc.pos, sc.pos)
	}
	if _, err := io.ReadFull(sc.r, sc.hdr[:]); err != nil {
		return h, fmt.Errorf("disklog: read batch header at %d: %w", sc.pos, err)
	}
	h, err := recordbatch.PeekHeader(sc.hdr[:])
	if err != nil {
		return h, fmt.Errorf("%w at %d: %v", errTorn, sc.pos, err)
	}
	if size := int64(h.Size()); size > sc.end-sc.pos {
		return h, fmt.Errorf("%w: batch of %d bytes at %d, %d left", errTorn, size, sc.pos, sc.end-sc.pos)
	}
	return h, nil
}

// findBatch returns the position and header of the first batch in the
// segment's first size bytes that ends after target (so contains target
// when target is in the segment), scanning from the sparse index. found is
// false when the segment has no such batch.
func (s *segment) findBatch(index []offsetEntry, size, target int64) (int64, recordbatch.Header, bool, error) {
	sc := newScanner(s.f, lookupPos(s.base, index, target), size, false)
	for {
		h, pos, err := sc.next()
		if err == io.EOF {
			return 0, h, false, nil
		}
		if err != nil {
			return 0, h, false, err
		}
		if h.NextOffset() > target {
			return pos, h, true, nil
		}
	}
}

// readIndexes loads and validates the segment's index files against the
// log file of size bytes. ok is false when they are missing or unusable.
func (s *segment) readIndexes(size int64) (index []offsetEntry, tindex []timeEntry, ok bool) {
	ib, err := os.ReadFile(s.path + indexSuffix)
	if err != nil || len(ib)%offsetEntrySize != 0 {
		return nil, nil, false
	}
	tb, err := os.ReadFile(s.path + timeIndexSuffix)
	if err != nil || len(tb)%timeEntrySize != 0 {
		return nil, nil, false
	}
	index = make([]offsetEntry, len(ib)/offsetEntrySize)
	for i := range index {
		e := offsetEntry{
			rel: binary.BigEndian.Uint32(ib[i*offsetEntrySize:]),
			pos: binary.BigEndian.Uint32(ib[i*offsetEntrySize+4:]),
		}
		if int64(e.pos) >= size || (i > 0 && (e.rel <= index[i-1].rel || e.pos <= index[i-1].pos)) {
			return nil, nil, false
		}
		index[i] = e
	}
	tindex = make([]timeEntry, len(tb)/timeEntrySize)
	for i := range tindex {
		e := timeEntry{
			ts:  int64(binary.BigEndian.Uint64(tb[i*timeEntrySize:])),
			rel: binary.BigEndian.Uint32(tb[i*timeEntrySize+8:]),
		}
		if i > 0 && (e.ts <= tindex[i-1].ts || e.rel < tindex[i-1].rel) {
			return nil, nil, false
		}
		tindex[i] = e
	}
	// The last offset entry must point at the batch it names.
	if n := len(index); n > 0 {
		var hb [recordbatch.HeaderSize]byte
		if _, err := s.f.ReadAt(hb[:], int64(index[n-1].pos)); err != nil {
			return nil, nil, false
		}
		h, err := recordbatch.PeekHeader(hb[:])
		if err != nil || h.BaseOffset != s.base+int64(index[n-1].rel) {
			return nil, nil, false
		}
	}
	return index, tindex, true
}

// writeIndexes writes the published indexes to their files and fsyncs them.
func (s *segment) writeIndexes() error {
	ib := make([]byte, 0, len(s.index)*offsetEntrySize)
	for _, e := range s.index {
		ib = binary.BigEndian.AppendUint32(ib, e.rel)
		ib = binary.BigEndian.AppendUint32(ib, e.pos)
	}
	tb := make([]byte, 0, len(s.timeIndex)*timeEntrySize)
	for _, e := range s.timeIndex {
		tb = binary.BigEndian.AppendUint64(tb, uint64(e.ts))
		tb = binary.BigEndian.AppendUint32(tb, e.rel)
	}
	if err := writeFileSync(s.path+indexSuffix, ib); err != nil {
		return err
	}
	return writeFileSync(s.path+timeIndexSuffix, tb)
}

// indexer accumulates index entries while batches are appended or
// scanned, following Kafka's rule: an offset entry for a batch once more
// than interval bytes were written since the previous entry, and with it a
// time entry when the largest timestamp grew.
type indexer struct {
	base     int64
	interval int64
}

// add records batch h at pos in w, returning entries to publish.
func (ix indexer) add(w *writerState, h recordbatch.Header, pos int64) {
	if h.MaxTimestamp > w.maxTs {
		w.maxTs = h.MaxTimestamp
		w.offsetOfMax = h.BaseOffset
	}
	if w.sinceIndex > ix.interval {
		w.pendingIndex = append(w.pendingIndex, offsetEntry{rel: uint32(h.BaseOffset - ix.base), pos: uint32(pos)})
		w.sinceIndex = 0
		ix.maybeTime(w)
	}
	w.sinceIndex += int64(h.Size())
	w.size = pos + int64(h.Size())
	w.next = h.NextOffset()
}

// maybeTime adds a time entry when the largest timestamp grew since the
// last one.
func (ix indexer) maybeTime(w *writerState) {
	if w.maxTs > w.lastTimeTs && w.offsetOfMax >= ix.base {
		w.pendingTime = append(w.pendingTime, timeEntry{ts: w.maxTs, rel: uint32(w.offsetOfMax - ix.base)})
		w.lastTimeTs = w.maxTs
	}
}

// publish makes the writer state visible; Log.mu must be held for writing.
func (s *segment) publish() {
	s.size, s.next, s.maxTs = s.w.size, s.w.next, s.w.maxTs
	s.index = append(s.index, s.w.pendingIndex...)
	s.timeIndex = append(s.timeIndex, s.w.pendingTime...)
	s.w.pendingIndex, s.w.pendingTime = nil, nil
}
