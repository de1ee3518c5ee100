package storagetest

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/recordbatch/batchtest"
	"github.com/kop-project/kop/storage"
)

// KV is one record of a compaction test: its key and value (nil for a
// tombstone).
type KV struct {
	Key   string
	Value []byte
}

// CompactConfig is Config for a compacted topic with small segments (so
// an embedded log has sealed, cleanable ones) and Kafka's compaction
// defaults.
func CompactConfig() storage.TopicConfig {
	cfg := Config()
	cfg.SegmentBytes = 4096
	cfg.IndexIntervalBytes = 256
	cfg.Compact = true
	cfg.DeleteRetentionMs = 86_400_000
	cfg.MinCleanableDirtyRatio = 0.5
	cfg.MaxCompactionLagMs = 1<<63 - 1
	return cfg
}

// AppendKeyed appends one batch of recs (compressed with codec, every
// record stamped ts) and returns its base offset.
func AppendKeyed(t testing.TB, l storage.PartitionLog, codec int8, ts int64, recs []KV) int64 {
	t.Helper()
	rs := make([]recordbatch.Record, len(recs))
	for i, r := range recs {
		rs[i] = recordbatch.Record{OffsetDelta: int32(i), Key: []byte(r.Key), Value: r.Value}
	}
	raw, err := batchtest.Build(batchtest.Spec{Codec: codec, BaseTimestamp: ts, Records: rs}.NoProducer())
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Append(context.Background(), 0, []storage.Batch{batch(t, raw)})
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res.BaseOffset
}

// ReadRecords reads the whole log from its start: every record by offset,
// checking CRCs and that batches only move forward.
func ReadRecords(t testing.TB, l storage.PartitionLog) map[int64]KV {
	t.Helper()
	out := map[int64]KV{}
	next := l.LogStartOffset()
	for next < l.LogEndOffset() {
		res, err := l.Read(context.Background(), next, 64<<10)
		if err != nil {
			t.Fatalf("Read(%d): %v", next, err)
		}
		if len(res.Records) == 0 {
			t.Fatalf("Read(%d) empty below the end %d", next, l.LogEndOffset())
		}
		if err := recordbatch.IterateVerified(res.Records, func(h recordbatch.Header, raw []byte) bool {
			if h.NextOffset() <= next {
				t.Fatalf("Read(%d) returned the batch [%d, %d) again", next, h.BaseOffset, h.NextOffset())
			}
			recs, err := recordbatch.DecodeRecords(raw, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				out[h.BaseOffset+int64(r.OffsetDelta)] = KV{string(r.Key), r.Value}
			}
			next = h.NextOffset()
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// Compact runs one cleaning pass of l now.
func Compact(t testing.TB, l storage.PartitionLog) storage.CompactStats {
	t.Helper()
	c, ok := l.(storage.Compactor)
	if !ok {
		t.Fatalf("%T does not compact", l)
	}
	st, err := c.Compact(context.Background())
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	return st
}

// RunCompaction checks log compaction through the storage seam: a key
// written 1,000 times keeps its last value, survivors keep their offsets,
// the view survives a reopen, tombstones go after delete.retention.ms,
// and a topic that is not compacted is never cleaned. reopen closes the
// log and opens it again (on a new backend when the backend keeps state
// per broker).
func RunCompaction(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	ctx := context.Background()
	b := newBackend(t)
	defer b.Close()
	prefix := topicPrefix(t)
	open := func(name string, cfg storage.TopicConfig) storage.PartitionLog {
		t.Helper()
		l, err := Open(ctx, b, storage.TopicPartition{Topic: prefix + name}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	codecs := []string{"uncompressed", "lz4", "zstd"}
	for _, codec := range codecs {
		t.Run("latest-per-key-"+codec, func(t *testing.T) {
			c, _ := recordbatch.CodecNamed(codec)
			cfg := CompactConfig()
			l := open("keys-"+codec, cfg)
			ts := time.Now().UnixMilli()
			written := map[int64]KV{}
			latest := map[string]int64{}
			write := func(from, to int) {
				for i := from; i < to; i += 4 {
					var recs []KV
					for j := i; j < i+4; j++ {
						k := "hot" // one key written 1,000 times …
						if j%2 == 1 {
							k = "key-" + strconv.Itoa(j%10) // … and some others
						}
						recs = append(recs, KV{k, []byte(fmt.Sprintf("%s@%d", k, j))})
					}
					base := AppendKeyed(t, l, c, ts, recs)
					for j, r := range recs {
						written[base+int64(j)] = r
						latest[r.Key] = base + int64(j)
					}
				}
			}
			check := func(when string, cleanedTo int64) {
				t.Helper()
				got := ReadRecords(t, l)
				seen := map[string]int64{}
				for off, r := range got {
					if w := written[off]; w.Key != r.Key || string(w.Value) != string(r.Value) {
						t.Fatalf("%s: offset %d holds %s=%s, %s=%s was written there", when, off, r.Key, r.Value, w.Key, w.Value)
					}
					if off < cleanedTo {
						if prev, dup := seen[r.Key]; dup {
							t.Fatalf("%s: key %s survives at %d and %d below the cleaned offset %d", when, r.Key, prev, off, cleanedTo)
						}
						seen[r.Key] = off
					}
				}
				for k, off := range latest {
					if _, ok := got[off]; !ok {
						t.Fatalf("%s: the latest record of %s (offset %d) is gone", when, k, off)
					}
				}
				for off := range written {
					if _, ok := got[off]; !ok && off >= cleanedTo {
						t.Fatalf("%s: offset %d, above the cleaned part, was removed", when, off)
					}
				}
			}
			write(0, 1000)
			end := l.LogEndOffset()
			st := Compact(t, l)
			if st.CleanedTo <= 0 || st.RecordsRemoved < 500 {
				t.Fatalf("the pass did nothing useful: %+v", st)
			}
			check("after cleaning", st.CleanedTo)
			if l.LogEndOffset() != end {
				t.Fatalf("log end %d, was %d", l.LogEndOffset(), end)
			}
			write(1000, 1200)
			st2 := Compact(t, l)
			if st2.CleanedTo < st.CleanedTo {
				t.Fatalf("the second pass went back: %+v after %+v", st2, st)
			}
			check("after a second pass", st2.CleanedTo)
			l.Close()
			l = open("keys-"+codec, cfg)
			defer l.Close()
			check("after a reopen", st2.CleanedTo)
		})
	}

	t.Run("tombstones", func(t *testing.T) {
		cfg := CompactConfig()
		cfg.DeleteRetentionMs = 60_000
		l := open("tombstones", cfg)
		defer l.Close()
		old := time.Now().Add(-time.Hour).UnixMilli()
		fill := func(tag string, n int) {
			for i := 0; i < n; i++ {
				AppendKeyed(t, l, recordbatch.CompressionNone, old, []KV{{"filler-" + strconv.Itoa(i%3), []byte(fmt.Sprintf("%s-%d-%0200d", tag, i, 0))}})
			}
		}
		AppendKeyed(t, l, recordbatch.CompressionNone, old, []KV{{"gone", []byte("v1")}, {"kept", []byte("v1")}})
		tomb := AppendKeyed(t, l, recordbatch.CompressionNone, old, []KV{{"gone", nil}})
		young := AppendKeyed(t, l, recordbatch.CompressionNone, time.Now().UnixMilli(), []KV{{"young", []byte("v")}, {"young", nil}})
		fill("a", 60)
		Compact(t, l)
		got := ReadRecords(t, l)
		if r, ok := got[tomb]; !ok || r.Value != nil {
			t.Fatal("the tombstone went in the pass that first reached it")
		}
		fill("b", 60)
		Compact(t, l)
		got = ReadRecords(t, l)
		if _, ok := got[tomb]; ok {
			t.Fatal("a tombstone cleaned once and older than delete.retention.ms survived")
		}
		if r, ok := got[young+1]; !ok || r.Value != nil {
			t.Fatal("a tombstone younger than delete.retention.ms went")
		}
		keys := map[string]bool{}
		for _, r := range got {
			keys[r.Key] = true
		}
		if keys["gone"] || !keys["kept"] {
			t.Fatalf("keys after the tombstone went: %v", keys)
		}
	})

	// An aborted transaction's record never replaces the committed value
	// of its key, and goes; a committed one's replaces older values; the
	// markers stay.
	t.Run("transactions", func(t *testing.T) {
		l := open("txn", CompactConfig())
		defer l.Close()
		ts := time.Now().UnixMilli()
		appendRaw := func(raw []byte) int64 {
			t.Helper()
			res, err := l.Append(ctx, 0, []storage.Batch{batch(t, raw)})
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			return res.BaseOffset
		}
		txn := func(pid int64, seq int32, k, v string) int64 {
			return appendRaw(recordbatch.Encode(recordbatch.Fields{Attributes: recordbatch.AttrTransactional, BaseTimestamp: ts, MaxTimestamp: ts,
				ProducerID: pid, BaseSequence: seq}, []recordbatch.Record{{Key: []byte(k), Value: []byte(v)}}))
		}
		kept := AppendKeyed(t, l, recordbatch.CompressionNone, ts, []KV{{"a", []byte("committed")}, {"b", []byte("old")}})
		aborted := txn(7, 0, "a", "aborted")
		abortMarker := appendRaw(recordbatch.Marker(7, 0, false, 0, ts))
		newB := txn(8, 0, "b", "new")
		commitMarker := appendRaw(recordbatch.Marker(8, 0, true, 0, ts))
		for i := 0; i < 40; i++ { // seal the segments above
			AppendKeyed(t, l, recordbatch.CompressionNone, ts, []KV{{fmt.Sprintf("filler-%d", i), []byte(fmt.Sprintf("%0300d", i))}})
		}
		Compact(t, l)
		got := ReadRecords(t, l)
		if r, ok := got[kept]; !ok || string(r.Value) != "committed" {
			t.Fatalf("the committed a=committed at %d is gone (%v): an aborted record replaced it", kept, ok)
		}
		if _, ok := got[aborted]; ok {
			t.Fatalf("the aborted record at %d survived cleaning", aborted)
		}
		if _, ok := got[kept+1]; ok {
			t.Fatalf("b=old at %d survived its committed replacement", kept+1)
		}
		if r, ok := got[newB]; !ok || string(r.Value) != "new" {
			t.Fatalf("the committed b=new at %d is gone", newB)
		}
		if _, ok := got[abortMarker]; !ok {
			t.Fatalf("the abort marker at %d is gone", abortMarker)
		}
		if _, ok := got[commitMarker]; !ok {
			t.Fatalf("the commit marker at %d is gone", commitMarker)
		}
	})

	t.Run("not-compacted", func(t *testing.T) {
		cfg := CompactConfig()
		cfg.Compact = false
		l := open("plain", cfg)
		defer l.Close()
		ts := time.Now().UnixMilli()
		for i := 0; i < 50; i++ {
			AppendKeyed(t, l, recordbatch.CompressionNone, ts, []KV{{"k", []byte(fmt.Sprintf("%0300d", i))}})
		}
		if st := Compact(t, l); st.RecordsRemoved != 0 || len(ReadRecords(t, l)) != 50 {
			t.Fatalf("a delete-policy topic was cleaned: %+v", st)
		}
	})
}
