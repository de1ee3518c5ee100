package compaction

import (
	"crypto/md5"
	"fmt"
	"math"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

// EntryBytes is what one key costs in the dedupe buffer, as Kafka counts
// it: a 16-byte MD5 of the key and an 8-byte offset.
const EntryBytes = 24

// DefaultBufferBytes is Kafka's log.cleaner.dedupe.buffer.size.
const DefaultBufferBytes = 128 << 20

// OffsetMap maps the MD5 of each key seen in the dirty part of a log to
// the latest offset it was written at.
//
// Transactions: the keys of a transaction's records are held aside until
// its marker, in the order of the log; a commit maps them, an abort drops
// them and notes the aborted range, whose batches Retain removes. The keys
// of a transaction still open where the dirty part ends are never mapped,
// so an aborted record never replaces a committed one; its records are
// filtered like any other (a later committed record of a key replaces
// them, whatever their transaction's outcome).
type OffsetMap struct {
	m     map[[md5.Size]byte]int64
	limit int
	// lastBatch: each idempotent producer's last batch in the dirty
	// part (its base offset).
	lastBatch map[int64]int64
	// txnKeys are the keys of each producer's open transaction.
	txnKeys map[int64][]keyAt
	txnHeld int // len of every txnKeys list
	// txnFirst is each open transaction's first offset.
	txnFirst map[int64]int64
	// aborted are the aborted transactions' ranges, by producer.
	aborted map[int64][][2]int64
}

type keyAt struct {
	key [md5.Size]byte
	off int64
}

// NewOffsetMap returns a map holding at most bufferBytes/EntryBytes keys
// (at least one).
func NewOffsetMap(bufferBytes int64) *OffsetMap {
	return &OffsetMap{m: map[[md5.Size]byte]int64{}, limit: int(max(min(bufferBytes/EntryBytes, math.MaxInt32), 1)),
		lastBatch: map[int64]int64{}, txnKeys: map[int64][]keyAt{}, txnFirst: map[int64]int64{}, aborted: map[int64][][2]int64{}}
}

// Len is the number of keys mapped (and held for open transactions).
func (m *OffsetMap) Len() int { return len(m.m) + m.txnHeld }

// Fits reports whether up to n more keys fit.
func (m *OffsetMap) Fits(n int64) bool { return int64(m.Len())+n <= int64(m.limit) }

// Add maps the keys of the whole batch raw, in log order: a batch of a
// transaction is held until its marker.
func (m *OffsetMap) Add(h *recordbatch.Header, raw []byte) error {
	if h.HasProducer() && !h.IsControl() {
		// The producer's last data batch: a marker carries no sequence.
		m.lastBatch[h.ProducerID] = h.BaseOffset
	}
	if h.IsControl() {
		if h.IsTransactional() {
			return m.endTxn(h, raw)
		}
		return nil
	}
	recs, err := recordbatch.DecodeRecords(raw, recordbatch.MaxDecompressedBytes)
	if err != nil {
		return fmt.Errorf("compaction: batch at offset %d: %w", h.BaseOffset, err)
	}
	if h.IsTransactional() {
		if _, open := m.txnFirst[h.ProducerID]; !open {
			m.txnFirst[h.ProducerID] = h.BaseOffset
		}
		for i := range recs {
			if recs[i].Key != nil {
				m.txnKeys[h.ProducerID] = append(m.txnKeys[h.ProducerID], keyAt{md5.Sum(recs[i].Key), h.BaseOffset + int64(recs[i].OffsetDelta)})
				m.txnHeld++
			}
		}
		return nil
	}
	for i := range recs {
		if recs[i].Key != nil {
			m.m[md5.Sum(recs[i].Key)] = h.BaseOffset + int64(recs[i].OffsetDelta)
		}
	}
	return nil
}

// endTxn applies a transaction marker: a commit maps the transaction's
// keys (unless a later record of the key is mapped already), an abort
// notes its range.
func (m *OffsetMap) endTxn(h *recordbatch.Header, raw []byte) error {
	typ, err := recordbatch.ControlType(raw)
	if err != nil {
		return fmt.Errorf("compaction: marker at offset %d: %w", h.BaseOffset, err)
	}
	first, open := m.txnFirst[h.ProducerID]
	keys := m.txnKeys[h.ProducerID]
	delete(m.txnFirst, h.ProducerID)
	delete(m.txnKeys, h.ProducerID)
	m.txnHeld -= len(keys)
	if !open {
		return nil // its records are below the dirty part
	}
	switch typ {
	case recordbatch.ControlCommit:
		for _, k := range keys {
			if cur, ok := m.m[k.key]; !ok || cur < k.off {
				m.m[k.key] = k.off
			}
		}
	case recordbatch.ControlAbort:
		m.aborted[h.ProducerID] = append(m.aborted[h.ProducerID], [2]int64{first, h.BaseOffset})
	}
	return nil
}

// abortedBatch reports whether the batch belongs to a transaction the
// map saw aborted.
func (m *OffsetMap) abortedBatch(h *recordbatch.Header) bool {
	if !h.IsTransactional() || h.IsControl() {
		return false
	}
	for _, r := range m.aborted[h.ProducerID] {
		if r[0] <= h.BaseOffset && h.BaseOffset < r[1] {
			return true
		}
	}
	return false
}

// Pass is one cleaning pass's rules: the map of its dirty part, where the
// previous pass stopped, and the time it runs at.
type Pass struct {
	Map *OffsetMap
	// CleanedTo is where the previous pass stopped: a tombstone below it
	// was cleaned once already, and goes once delete.retention.ms passed.
	CleanedTo int64
	NowMs     int64
	Config    storage.TopicConfig
}

// Retain returns the batch raw as the pass keeps it (recordbatch.Filter:
// the same offsets, fewer records), raw itself when it keeps every
// record, nil when it keeps none. A record goes when a later one has its
// key, when it has no key, or when it is a tombstone (null value) that
// was already cleaned and whose batch is older than delete.retention.ms.
// Control batches are kept whole; a batch of a transaction the map saw
// aborted goes whole. As in Kafka, the last batch of an idempotent
// producer is kept, empty, when none of its records stays, so a broker
// rebuilding producer state from the log still knows its last sequence
// (the batch's lastOffsetDelta and producer fields stay).
func (p *Pass) Retain(h *recordbatch.Header, raw []byte) (out []byte, removed int, err error) {
	if h.IsControl() {
		return raw, 0, nil
	}
	if p.Map.abortedBatch(h) {
		if p.producersLast(h) {
			return recordbatch.Empty(h), int(h.RecordCount), nil
		}
		return nil, int(h.RecordCount), nil
	}
	tombstonesGo := h.MaxTimestamp < subMs(p.NowMs, p.Config.DeleteRetentionMs)
	out, kept, err := recordbatch.Filter(raw, recordbatch.MaxDecompressedBytes, func(off int64, r *recordbatch.Record) bool {
		if r.Key == nil {
			return false // a compacted log keeps records by key
		}
		if latest, ok := p.Map.m[md5.Sum(r.Key)]; ok && latest > off {
			return false
		}
		return r.Value != nil || off >= p.CleanedTo || !tombstonesGo
	})
	if err != nil {
		return nil, 0, fmt.Errorf("compaction: batch at offset %d: %w", h.BaseOffset, err)
	}
	if out == nil && h.HasProducer() && p.producersLast(h) {
		return recordbatch.Empty(h), int(h.RecordCount), nil
	}
	return out, int(h.RecordCount) - kept, nil
}

// producersLast: h may be its producer's last batch in the log — the last
// one in the dirty part, or, below the dirty part, one of a producer that
// wrote nothing since.
func (p *Pass) producersLast(h *recordbatch.Header) bool {
	last, ok := p.Map.lastBatch[h.ProducerID]
	if ok {
		return last == h.BaseOffset
	}
	return h.BaseOffset < p.CleanedTo
}

// Cleanable reports whether a batch whose largest timestamp is maxTs may
// be cleaned at nowMs: it is older than min.compaction.lag.ms.
func Cleanable(cfg storage.TopicConfig, maxTs, nowMs int64) bool {
	return maxTs <= subMs(nowMs, cfg.MinCompactionLagMs)
}

// Overdue reports whether a dirty batch whose largest timestamp is maxTs
// must be cleaned now whatever the dirty ratio: it is older than
// max.compaction.lag.ms.
func Overdue(cfg storage.TopicConfig, maxTs, nowMs int64) bool {
	return cfg.MaxCompactionLagMs > 0 && cfg.MaxCompactionLagMs < math.MaxInt64 && maxTs < subMs(nowMs, cfg.MaxCompactionLagMs)
}

// Due reports whether the dirty share of the cleanable bytes reached
// min.cleanable.dirty.ratio.
func Due(cfg storage.TopicConfig, cleanBytes, dirtyBytes int64) bool {
	return dirtyBytes > 0 && float64(dirtyBytes)/float64(cleanBytes+dirtyBytes) >= cfg.MinCleanableDirtyRatio
}

// subMs is now - d, saturating (compaction lags default to 2^63-1).
func subMs(now, d int64) int64 {
	if d > 0 && now < math.MinInt64+d {
		return math.MinInt64
	}
	return now - d
}
