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
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/disklog"
	"github.com/kop-project/kop/storage/storagetest"
)

// TestCompaction runs the compaction conformance suite on the embedded
// log, then checks what only segments show: a read at an offset the
// cleaner removed gives the next survivor, and a restart keeps the view.
func TestCompaction(t *testing.T) {
	dir := t.TempDir()
	storagetest.RunCompaction(t, func(t *testing.T) storage.Backend {
		// The suite cleans explicitly: the background cleaner (every 15 s
		// by default) must not run a pass between its writes and its
		// Compact, which then finds nothing to do.
		b, err := disklog.New(dir, disklog.Options{Logger: quietLogger(), CleanerBackoff: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})

	e := newEnv(t)
	l := e.open(storagetest.CompactConfig())
	ts := e.clock.Now().UnixMilli()
	for i := 0; i < 400; i++ {
		storagetest.AppendKeyed(t, l, recordbatch.CompressionNone, ts, []storagetest.KV{{Key: "k" + strconv.Itoa(i%3), Value: []byte(fmt.Sprintf("%d-%0100d", i, 0))}})
	}
	if n := len(segments(t, e.partDir())); n < 5 {
		t.Fatalf("%d segments; the test needs several sealed ones", n)
	}
	storagetest.Compact(t, l)
	res, err := l.Read(context.Background(), 2, 1)
	if err != nil || len(res.Records) == 0 {
		t.Fatalf("Read(2): %v", err)
	}
	if h, _ := recordbatch.ParseHeader(res.Records); h.BaseOffset <= 2 {
		t.Fatalf("Read(2) gave the batch [%d, %d), which the cleaner should have removed", h.BaseOffset, h.NextOffset())
	}
	before := storagetest.ReadRecords(t, l)
	e.restart()
	l = e.open(storagetest.CompactConfig())
	if after := storagetest.ReadRecords(t, l); len(after) != len(before) {
		t.Fatalf("%d records after a restart, %d before", len(after), len(before))
	}
}

// TestCompactionMinLag: segments younger than min.compaction.lag.ms are
// not cleaned.
func TestCompactionMinLag(t *testing.T) {
	e := newEnv(t)
	cfg := storagetest.CompactConfig()
	cfg.MinCompactionLagMs = 3_600_000
	l := e.open(cfg)
	ts := e.clock.Now().UnixMilli()
	for i := 0; i < 100; i++ {
		storagetest.AppendKeyed(t, l, recordbatch.CompressionNone, ts, []storagetest.KV{{Key: "k", Value: []byte(fmt.Sprintf("%0200d", i))}})
	}
	if st := storagetest.Compact(t, l); st.BytesRead != 0 || len(storagetest.ReadRecords(t, l)) != 100 {
		t.Fatalf("records younger than min.compaction.lag.ms were cleaned: %+v", st)
	}
	e.clock.Add(2 * time.Hour)
	if st := storagetest.Compact(t, l); st.RecordsRemoved == 0 {
		t.Fatalf("nothing cleaned once the lag passed: %+v", st)
	}
}

// TestCompactionCrashSafe: a crash after a cleaned segment was committed
// (the swap file written, the old segments still there) completes the
// swap on open; a crash before the commit leaves the old segments, and
// the unfinished file is removed. Either way every current record is read.
func TestCompactionCrashSafe(t *testing.T) {
	e := newEnv(t)
	l := e.open(storagetest.CompactConfig())
	ts := e.clock.Now().UnixMilli()
	latest := map[string]string{}
	for i := 0; i < 200; i++ {
		k := "k" + strconv.Itoa(i%7)
		v := fmt.Sprintf("%s=%d-%0100d", k, i, 0)
		storagetest.AppendKeyed(t, l, recordbatch.CompressionNone, ts, []storagetest.KV{{Key: k, Value: []byte(v)}})
		latest[k] = v
	}
	e.restart()
	before := copyDir(t, e.partDir())
	l = e.open(storagetest.CompactConfig())
	storagetest.Compact(t, l)
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
	l = e.open(storagetest.CompactConfig())
	got := storagetest.ReadRecords(t, l)
	for k, v := range latest {
		found := false
		for _, r := range got {
			found = found || r.Key == k && string(r.Value) == v
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
	storagetest.Compact(t, l)
	if n := len(storagetest.ReadRecords(t, l)); n > len(got) {
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
	cfg := storagetest.CompactConfig()
	cfg.MinCleanableDirtyRatio = 0.99
	cfg.MaxCompactionLagMs = 60_000
	l, err := b.Open(context.Background(), tp0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	write := func(n int) {
		for i := 0; i < n; i++ {
			storagetest.AppendKeyed(t, l, recordbatch.CompressionNone, clk.Now().UnixMilli(), []storagetest.KV{{Key: "k" + strconv.Itoa(i%3), Value: []byte(fmt.Sprintf("%0300d", i))}})
		}
	}
	waitCleaned := func(what string, below int) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for len(storagetest.ReadRecords(t, l)) >= below {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the background cleaner did not clean within a minute (%d records, want fewer than %d)", what, len(storagetest.ReadRecords(t, l)), below)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	write(100)
	waitCleaned("a log never cleaned (dirty ratio 1)", 100)
	n := len(storagetest.ReadRecords(t, l))
	write(20) // a small dirty part: below the ratio
	clk.Add(2 * time.Minute)
	waitCleaned("dirty records older than max.compaction.lag.ms", n+20)
}
