package disklog_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/recordbatch/batchtest"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/disklog"
)

// keyed is one record of a compaction test: its key and value (nil for a
// tombstone); the value names the offset it was written at.
type keyed struct {
	key   string
	value []byte
}

// appendKeyed appends one batch of records (compressed with codec) and
// returns the base offset.
func appendKeyed(t *testing.T, l storage.PartitionLog, codec int8, ts int64, recs []keyed) int64 {
	t.Helper()
	base := l.LogEndOffset()
	rs := make([]recordbatch.Record, len(recs))
	for i, r := range recs {
		rs[i] = recordbatch.Record{OffsetDelta: int32(i), Key: []byte(r.key), Value: r.value}
	}
	raw, err := batchtest.Build(batchtest.Spec{Codec: codec, BaseTimestamp: ts, Records: rs}.NoProducer())
	if err != nil {
		t.Fatal(err)
	}
	h, _ := recordbatch.ParseHeader(raw)
	res, err := l.Append(context.Background(), 0, []storage.Batch{{Header: h, Raw: raw}})
	if err != nil || res.BaseOffset != base {
		t.Fatalf("append at %d: %+v, %v", base, res, err)
	}
	return base
}

// readRecords reads the whole log from its start: every record with its
// offset, checking CRCs and that batches never go back.
func readRecords(t *testing.T, l storage.PartitionLog) map[int64]keyed {
	t.Helper()
	out := map[int64]keyed{}
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
				out[h.BaseOffset+int64(r.OffsetDelta)] = keyed{string(r.Key), r.Value}
			}
			next = h.NextOffset()
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func compactCfg() storage.TopicConfig {
	cfg := smallSegments()
	cfg.Compact = true
	cfg.DeleteRetentionMs = 86_400_000
	cfg.MinCleanableDirtyRatio = 0.5
	cfg.MaxCompactionLagMs = 1<<63 - 1
	return cfg
}

func compact(t *testing.T, l storage.PartitionLog) storage.CompactStats {
	t.Helper()
	st, err := l.(storage.Compactor).Compact(context.Background())
	if err != nil {
		t.Fatalf("compact: %v", err)
	}
	return st
}

// TestCompaction: a key written 1,000 times keeps its last value, the
// survivors keep their offsets (reads at removed offsets go on to the
// next survivor), the active segment is untouched, and the compacted view
// survives a restart; in every codec.
func TestCompaction(t *testing.T) {
	for _, codec := range []string{"uncompressed", "gzip", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			c, _ := recordbatch.CodecNamed(codec)
			e := newEnv(t)
			l := e.open(compactCfg())
			ts := e.clock.Now().UnixMilli()
			written := map[int64]keyed{}
			latest := map[string]int64{}
			for i := 0; i < 1000; i += 4 {
				var recs []keyed
				for j := i; j < i+4; j++ {
					k := "hot" // one key written 1,000 times …
					if j%2 == 1 {
						k = "key-" + strconv.Itoa(j%10) // … and some others
					}
					recs = append(recs, keyed{k, []byte(fmt.Sprintf("%s@%d", k, j))})
				}
				base := appendKeyed(t, l, c, ts, recs)
				for j, r := range recs {
					written[base+int64(j)] = r
					latest[r.key] = base + int64(j)
				}
			}
			end := l.LogEndOffset()
			if n := len(segments(t, e.partDir())); n < 5 {
				t.Fatalf("%d segments; the test needs several sealed ones", n)
			}
			st := compact(t, l)
			if st.CleanedTo <= 0 || st.RecordsRemoved == 0 || st.BytesWritten >= st.BytesRead {
				t.Fatalf("the pass did nothing useful: %+v", st)
			}
			check := func(when string) {
				got := readRecords(t, l)
				if l.LogEndOffset() != end {
					t.Fatalf("%s: log end %d, was %d", when, l.LogEndOffset(), end)
				}
				seen := map[string]int64{}
				for off, r := range got {
					if w := written[off]; w.key != r.key || string(w.value) != string(r.value) {
						t.Fatalf("%s: offset %d holds %s=%s, %s=%s was written there", when, off, r.key, r.value, w.key, w.value)
					}
					if off < st.CleanedTo {
						if prev, dup := seen[r.key]; dup {
							t.Fatalf("%s: key %s survives at %d and %d below the cleaned offset %d", when, r.key, prev, off, st.CleanedTo)
						}
						seen[r.key] = off
					}
				}
				for k, off := range latest {
					if _, ok := got[off]; !ok {
						t.Fatalf("%s: the latest record of %s (offset %d) is gone", when, k, off)
					}
				}
				for off := range written {
					if _, ok := got[off]; !ok && off >= st.CleanedTo {
						t.Fatalf("%s: offset %d, above the cleaned part, was removed", when, off)
					}
				}
				if len(got) >= len(written)/2 {
					t.Fatalf("%s: %d of %d records survive", when, len(got), len(written))
				}
			}
			check("after cleaning")
			// A read at a removed offset gives the next survivor.
			res, err := l.Read(context.Background(), 2, 1)
			if err != nil || len(res.Records) == 0 {
				t.Fatalf("Read(2): %v", err)
			}
			if h, _ := recordbatch.ParseHeader(res.Records); h.NextOffset() <= 2 {
				t.Fatalf("Read(2) gave the batch [%d, %d)", h.BaseOffset, h.NextOffset())
			}
			e.restart()
			l = e.open(compactCfg())
			check("after a restart")
			// Nothing new is dirty: another pass rewrites nothing.
			if st2 := compact(t, l); st2.BytesRead != 0 || st2.CleanedTo != st.CleanedTo {
				t.Fatalf("a pass with nothing dirty: %+v", st2)
			}
		})
	}
}

// TestCompactionTombstones: a tombstone stays while it is dirty and for
// delete.retention.ms after; then it and the key's earlier records are
// gone. A topic that is not compacted is never cleaned.
func TestCompactionTombstones(t *testing.T) {
	e := newEnv(t)
	cfg := compactCfg()
	cfg.DeleteRetentionMs = 60_000
	l := e.open(cfg)
	ts := e.clock.Now().UnixMilli()
	fill := func(tag string, n int) {
		for i := 0; i < n; i++ {
			appendKeyed(t, l, recordbatch.CompressionNone, ts, []keyed{{"filler-" + strconv.Itoa(i%3), []byte(fmt.Sprintf("%s-%d-%0200d", tag, i, 0))}})
		}
	}
	appendKeyed(t, l, recordbatch.CompressionNone, ts, []keyed{{"gone", []byte("v1")}, {"kept", []byte("v1")}})
	tomb := appendKeyed(t, l, recordbatch.CompressionNone, ts, []keyed{{"gone", nil}})
	fill("a", 60)
	compact(t, l)
	if r, ok := readRecords(t, l)[tomb]; !ok || r.value != nil {
		t.Fatal("the tombstone went in the pass that first reached it")
	}
	e.clock.Add(2 * time.Minute)
	fill("b", 60)
	compact(t, l)
	got := readRecords(t, l)
	if _, ok := got[tomb]; ok {
		t.Fatal("the tombstone survived delete.retention.ms")
	}
	for _, r := range got {
		if r.key == "gone" {
			t.Fatalf("a record of the deleted key survives: %s", r.value)
		}
	}
	if !hasKey(got, "kept") {
		t.Fatal("the other key of the tombstone's first batch is gone")
	}

	other := storage.TopicPartition{Topic: "plain", Partition: 0}
	pl, err := e.b.Open(context.Background(), other, smallSegments())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		appendKeyed(t, pl, recordbatch.CompressionNone, ts, []keyed{{"k", []byte(fmt.Sprintf("%0300d", i))}})
	}
	if st := compact(t, pl); st.BytesRead != 0 || len(readRecords(t, pl)) != 50 {
		t.Fatalf("a delete-policy topic was cleaned: %+v", st)
	}
}

func hasKey(recs map[int64]keyed, key string) bool {
	for _, r := range recs {
		if r.key == key {
			return true
		}
	}
	return false
}

// TestCompactionMinLag: segments younger than min.compaction.lag.ms are
// not cleaned.
func TestCompactionMinLag(t *testing.T) {
	e := newEnv(t)
	cfg := compactCfg()
	cfg.MinCompactionLagMs = 3_600_000
	l := e.open(cfg)
	ts := e.clock.Now().UnixMilli()
	for i := 0; i < 100; i++ {
		appendKeyed(t, l, recordbatch.CompressionNone, ts, []keyed{{"k", []byte(fmt.Sprintf("%0200d", i))}})
	}
	if st := compact(t, l); st.BytesRead != 0 || len(readRecords(t, l)) != 100 {
		t.Fatalf("records younger than min.compaction.lag.ms were cleaned: %+v", st)
	}
	e.clock.Add(2 * time.Hour)
	if st := compact(t, l); st.RecordsRemoved == 0 {
		t.Fatalf("nothing cleaned once the lag passed: %+v", st)
	}
}

// TestCompactionCrashSafe: a crash after a cleaned segment was committed
// (the swap file written, the old segments still there) completes the
// swap on open; a crash before the commit leaves the old segments, and
// the unfinished file is removed. Either way every current record is read.
func TestCompactionCrashSafe(t *testing.T) {
	e := newEnv(t)
	l := e.open(compactCfg())
	ts := e.clock.Now().UnixMilli()
	latest := map[string]string{}
	for i := 0; i < 200; i++ {
		k := "k" + strconv.Itoa(i%7)
		v := fmt.Sprintf("%s=%d-%0100d", k, i, 0)
		appendKeyed(t, l, recordbatch.CompressionNone, ts, []keyed{{k, []byte(v)}})
		latest[k] = v
	}
	e.restart()
	before := copyDir(t, e.partDir())
	l = e.open(compactCfg())
	compact(t, l)
	e.restart()
	after := copyDir(t, e.partDir())
	segs := segments(t, after)
	e.b.Close()
	e.b = nil

	// Committed: the first cleaned segment as a swap file among the
	// segments it replaces.
	first, _ := strconv.ParseInt(segs[0][:20], 10, 64)
	second, _ := strconv.ParseInt(segs[1][:20], 10, 64)
	restore(t, before, e.partDir())
	data, err := os.ReadFile(filepath.Join(after, segs[0]))
	if err != nil {
		t.Fatal(err)
	}
	swap := filepath.Join(e.partDir(), fmt.Sprintf("%020d-%020d.swap", first, second))
	if err := os.WriteFile(swap, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// Not committed: a cleaned segment half written.
	if err := os.WriteFile(filepath.Join(e.partDir(), segs[1][:20]+".cleaned"), data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(e.partDir(), "clean-shutdown")) // and it was a crash
	e.start()
	l = e.open(compactCfg())
	got := readRecords(t, l)
	for k, v := range latest {
		found := false
		for _, r := range got {
			found = found || r.key == k && string(r.value) == v
		}
		if !found {
			t.Fatalf("after the crash the latest %s (%s) is gone", k, v)
		}
	}
	if _, err := os.Stat(swap); !os.IsNotExist(err) {
		t.Fatalf("the swap file is still there: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(e.partDir(), "*.cleaned")); len(m) != 0 {
		t.Fatalf("unfinished cleaned segments left: %v", m)
	}
	if segs := segments(t, e.partDir()); segs[0] != fmt.Sprintf("%020d.log", first) || segs[1] == fmt.Sprintf("%020d.log", first+1) {
		t.Fatalf("segments after completing the swap: %v", segs)
	}
	// And cleaning goes on from there.
	compact(t, l)
	if n := len(readRecords(t, l)); n > len(got) {
		t.Fatalf("%d records after cleaning again, %d before", n, len(got))
	}
}

func copyDir(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	restore(t, dir, dst)
	return dst
}

// restore makes dst hold exactly the files of src.
func restore(t *testing.T, src, dst string) {
	t.Helper()
	old, _ := os.ReadDir(dst)
	for _, e := range old {
		os.Remove(filepath.Join(dst, e.Name()))
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCleanerInBackground: the backend's cleaner cleans a compacted log
// by itself once its dirty ratio is reached, and again when
// max.compaction.lag.ms has passed although the ratio has not.
func TestCleanerInBackground(t *testing.T) {
	clk := &clock{t: time.UnixMilli(1_700_000_000_000)}
	b, err := disklog.New(t.TempDir(), disklog.Options{Logger: quietLogger(), Now: clk.Now, CleanerBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cfg := compactCfg()
	cfg.MinCleanableDirtyRatio = 0.99
	cfg.MaxCompactionLagMs = 60_000
	l, err := b.Open(context.Background(), tp0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	write := func(n int) {
		for i := 0; i < n; i++ {
			appendKeyed(t, l, recordbatch.CompressionNone, clk.Now().UnixMilli(), []keyed{{"k" + strconv.Itoa(i%3), []byte(fmt.Sprintf("%0300d", i))}})
		}
	}
	waitCleaned := func(what string, below int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for len(readRecords(t, l)) >= below {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the background cleaner did not clean within a minute (%d records, want fewer than %d)", what, len(readRecords(t, l)), below)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	write(100)
	waitCleaned("a log never cleaned (dirty ratio 1)", 100)
	n := len(readRecords(t, l))
	write(20) // a small dirty part: below the ratio
	clk.Add(2 * time.Minute)
	waitCleaned("dirty records older than max.compaction.lag.ms", n+20)
}
