package disklog_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/disklog"
	"github.com/kop-project/kop/storage/storagetest"
)

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn + 100}))
}

func TestConformance(t *testing.T) {
	dir := t.TempDir() // shared: the suite uses distinct topics
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		b, err := disklog.New(dir, disklog.Options{Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	dir   string
	clock *clock
	b     *disklog.Backend
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, dir: t.TempDir(), clock: &clock{t: time.UnixMilli(1_700_000_000_000)}}
	e.start()
	t.Cleanup(func() {
		if e.b != nil {
			e.b.Close()
		}
	})
	return e
}

func (e *env) start() {
	e.t.Helper()
	b, err := disklog.New(e.dir, disklog.Options{Logger: quietLogger(), Now: e.clock.Now, RetentionCheckInterval: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	e.b = b
}

func (e *env) restart() {
	e.t.Helper()
	if err := e.b.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.start()
}

var tp0 = storage.TopicPartition{Topic: "my.topic_1-x", Partition: 0}

func (e *env) partDir() string { return filepath.Join(e.dir, "my.topic_1-x-0") }

func (e *env) open(cfg storage.TopicConfig) storage.PartitionLog {
	e.t.Helper()
	l, err := e.b.Open(context.Background(), tp0, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

func appendN(t testing.TB, l storage.PartitionLog, epoch int32, n, vs int, ts int64) storage.AppendResult {
	t.Helper()
	raw := storagetest.MakeBatch(t, n, vs, ts)
	h, _ := recordbatch.ParseHeader(raw)
	res, err := l.Append(context.Background(), epoch, []storage.Batch{{Header: h, Raw: raw}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// verifyAll reads the whole log and checks dense offsets and CRCs,
// returning the batch base offsets.
func verifyAll(t *testing.T, l storage.PartitionLog) []int64 {
	t.Helper()
	var bases []int64
	next := l.LogStartOffset()
	first := true
	for next < l.LogEndOffset() {
		res, err := l.Read(context.Background(), next, 1<<20)
		if err != nil {
			t.Fatalf("Read(%d): %v", next, err)
		}
		if len(res.Records) == 0 {
			t.Fatalf("Read(%d) empty below end %d", next, l.LogEndOffset())
		}
		if err := recordbatch.IterateVerified(res.Records, func(h recordbatch.Header, _ []byte) bool {
			if !first && h.BaseOffset != next {
				t.Fatalf("batch at %d, expected %d", h.BaseOffset, next)
			}
			first = false
			bases = append(bases, h.BaseOffset)
			next = h.NextOffset()
			return true
		}); err != nil {
			t.Fatal(err)
		}
	}
	return bases
}

func segments(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	sort.Strings(m)
	return m
}

func smallSegments() storage.TopicConfig {
	cfg := storagetest.Config()
	cfg.SegmentBytes = 4096
	cfg.IndexIntervalBytes = 256
	return cfg
}

func TestRollAndReadAcrossSegments(t *testing.T) {
	e := newEnv(t)
	l := e.open(smallSegments())
	for i := range 100 {
		appendN(t, l, 0, 1+i%3, 100, int64(1000+i))
	}
	segs := segments(t, e.partDir())
	if len(segs) < 5 {
		t.Fatalf("only %d segments: %v", len(segs), segs)
	}
	if segs[0] != fmt.Sprintf("%020d.log", 0) {
		t.Fatalf("first segment %s", segs[0])
	}
	end := l.LogEndOffset()
	bases := verifyAll(t, l)
	// Every offset resolves to the batch containing it.
	for off := int64(0); off < end; off++ {
		res, err := l.Read(context.Background(), off, 1)
		if err != nil {
			t.Fatal(err)
		}
		h, err := recordbatch.ParseHeader(res.Records)
		if err != nil || h.BaseOffset > off || h.NextOffset() <= off || len(res.Records) != h.Size() {
			t.Fatalf("Read(%d, 1): batch [%d,%d) of %d bytes, %v", off, h.BaseOffset, h.NextOffset(), len(res.Records), err)
		}
	}
	// Timestamps across segments.
	for i := 0; i < 100; i += 7 {
		off, ts, err := l.OffsetForTimestamp(context.Background(), int64(1000+i))
		if err != nil || off != bases[i] || ts != int64(1000+i) {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d", 1000+i, off, ts, err, bases[i])
		}
	}
	e.restart()
	l = e.open(smallSegments())
	if l.LogEndOffset() != end {
		t.Fatalf("end after restart %d, want %d", l.LogEndOffset(), end)
	}
	if got := verifyAll(t, l); fmt.Sprint(got) != fmt.Sprint(bases) {
		t.Fatal("batches differ after restart")
	}
	off, _, err := l.OffsetForTimestamp(context.Background(), 1050)
	if err != nil || off != bases[50] {
		t.Fatalf("OffsetForTimestamp after restart = %d, %v", off, err)
	}
}

func TestSegmentMsRoll(t *testing.T) {
	e := newEnv(t)
	cfg := storagetest.Config()
	cfg.SegmentMs = 1000
	l := e.open(cfg)
	appendN(t, l, 0, 1, 10, 1)
	appendN(t, l, 0, 1, 10, 1)
	e.clock.Add(1500 * time.Millisecond)
	appendN(t, l, 0, 1, 10, 1)
	if segs := segments(t, e.partDir()); len(segs) != 2 || segs[1] != fmt.Sprintf("%020d.log", 2) {
		t.Fatalf("segments %v, want a roll at offset 2", segs)
	}
}

// crash closes the log cleanly and then removes the clean-shutdown marker,
// so that the next open recovers as after a crash.
func (e *env) crash(l storage.PartitionLog) {
	e.t.Helper()
	if err := l.Close(); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(e.partDir(), "clean-shutdown")); err != nil {
		e.t.Fatal(err)
	}
	e.restart()
}

func lastSegment(t *testing.T, e *env) string {
	segs := segments(t, e.partDir())
	return filepath.Join(e.partDir(), segs[len(segs)-1])
}

func TestCrashRecovery(t *testing.T) {
	tornBatch := storagetest.MakeBatch(t, 4, 100, 5)
	cases := []struct {
		name string
		// damage changes the last segment; the log had offsets 0..29 in 10
		// batches of 3; wantEnd is the end offset after recovery.
		damage  func(t *testing.T, path string)
		wantEnd int64
	}{
		{"clean tail", func(*testing.T, string) {}, 30},
		{"garbage appended", func(t *testing.T, p string) {
			appendFile(t, p, []byte("garbage that is not a batch at all, long enough to hold a header......"))
		}, 30},
		{"short garbage", func(t *testing.T, p string) { appendFile(t, p, []byte{1, 2, 3}) }, 30},
		{"half a batch appended", func(t *testing.T, p string) { appendFile(t, p, tornBatch[:len(tornBatch)/2]) }, 30},
		{"whole batch with wrong offset", func(t *testing.T, p string) { appendFile(t, p, tornBatch) }, 30},
		{"truncated mid batch", func(t *testing.T, p string) { truncateBy(t, p, 10) }, 27},
		{"truncated mid header", func(t *testing.T, p string) {
			st, _ := os.Stat(p)
			one := int64(len(storagetest.MakeBatch(t, 3, 50, 0)))
			if err := os.Truncate(p, st.Size()-one+20); err != nil {
				t.Fatal(err)
			}
		}, 27},
		{"crc flipped in last batch", func(t *testing.T, p string) { flipByte(t, p, -5) }, 27},
		{"zeroed tail", func(t *testing.T, p string) { appendFile(t, p, make([]byte, 4096)) }, 30},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			l := e.open(storagetest.Config())
			for i := range 10 {
				appendN(t, l, 1, 3, 50, int64(i))
			}
			e.crash(l)
			c.damage(t, lastSegment(t, e))
			l = e.open(storagetest.Config())
			if l.LogEndOffset() != c.wantEnd {
				t.Fatalf("end after recovery %d, want %d", l.LogEndOffset(), c.wantEnd)
			}
			verifyAll(t, l)
			// Offsets continue densely.
			if r := appendN(t, l, 1, 2, 10, 99); r.BaseOffset != c.wantEnd {
				t.Fatalf("append after recovery at %d, want %d", r.BaseOffset, c.wantEnd)
			}
			if ep, end := l.EndOffsetForEpoch(1); ep != 1 || end != c.wantEnd+2 {
				t.Fatalf("EndOffsetForEpoch(1) = %d, %d", ep, end)
			}
			e.restart()
			l = e.open(storagetest.Config())
			if l.LogEndOffset() != c.wantEnd+2 {
				t.Fatalf("end after clean restart %d, want %d", l.LogEndOffset(), c.wantEnd+2)
			}
			verifyAll(t, l)
		})
	}
}

func TestCrashRecoveryRestoresEpochs(t *testing.T) {
	e := newEnv(t)
	l := e.open(storagetest.Config())
	appendN(t, l, 1, 3, 10, 1)
	appendN(t, l, 2, 3, 10, 1)
	appendN(t, l, 5, 3, 10, 1)
	e.crash(l)
	// Lose the epoch checkpoint and the last batch (epoch 5).
	os.Remove(filepath.Join(e.partDir(), "leader-epoch-checkpoint"))
	truncateBy(t, lastSegment(t, e), 1)
	l = e.open(storagetest.Config())
	if l.LogEndOffset() != 6 {
		t.Fatalf("end %d, want 6", l.LogEndOffset())
	}
	for _, c := range []struct {
		q, e int32
		end  int64
	}{{1, 1, 3}, {2, 2, 6}, {5, 2, 6}, {0, -1, -1}} {
		if ep, end := l.EndOffsetForEpoch(c.q); ep != c.e || end != c.end {
			t.Fatalf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", c.q, ep, end, c.e, c.end)
		}
	}
}

func TestCrashDropsEpochsBeyondEnd(t *testing.T) {
	e := newEnv(t)
	l := e.open(storagetest.Config())
	appendN(t, l, 1, 3, 10, 1)
	appendN(t, l, 4, 3, 10, 1)
	e.crash(l)
	truncateBy(t, lastSegment(t, e), 1) // the epoch-4 batch is torn
	l = e.open(storagetest.Config())
	if ep, end := l.EndOffsetForEpoch(9); ep != 1 || end != 3 {
		t.Fatalf("EndOffsetForEpoch(9) = %d, %d; want 1, 3", ep, end)
	}
	appendN(t, l, 3, 1, 10, 1) // epoch 3 is newer than what survived
}

func TestIndexRebuild(t *testing.T) {
	for _, damage := range []string{"missing", "garbage", "odd size", "wrong position"} {
		t.Run(damage, func(t *testing.T) {
			e := newEnv(t)
			l := e.open(smallSegments())
			for i := range 60 {
				appendN(t, l, 0, 2, 100, int64(i))
			}
			want := verifyAll(t, l)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			idx, _ := filepath.Glob(filepath.Join(e.partDir(), "*.index"))
			if len(idx) < 2 {
				t.Fatalf("%d index files", len(idx))
			}
			for _, p := range idx {
				switch damage {
				case "missing":
					os.Remove(p)
					os.Remove(strings.TrimSuffix(p, ".index") + ".timeindex")
				case "garbage":
					os.WriteFile(p, []byte("0123456789abcdef"), 0o644)
				case "odd size":
					appendFile(t, p, []byte{1})
				case "wrong position":
					data, _ := os.ReadFile(p)
					if len(data) >= 8 {
						data[len(data)-1] ^= 0x10
						os.WriteFile(p, data, 0o644)
					}
				}
			}
			e.restart()
			l = e.open(smallSegments())
			if got := verifyAll(t, l); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("batches after index rebuild differ")
			}
			for i := 0; i < 60; i += 5 {
				off, _, err := l.OffsetForTimestamp(context.Background(), int64(i))
				if err != nil || off != int64(2*i) {
					t.Fatalf("OffsetForTimestamp(%d) = %d, %v", i, off, err)
				}
			}
		})
	}
}

func TestLogStartBeyondRecoveredEnd(t *testing.T) {
	e := newEnv(t)
	l := e.open(storagetest.Config())
	appendN(t, l, 0, 5, 10, 1)
	if _, err := l.DeleteRecords(context.Background(), 5); err != nil {
		t.Fatal(err)
	}
	e.crash(l)
	// The data the start offset skipped is lost.
	os.Truncate(lastSegment(t, e), 0)
	l = e.open(storagetest.Config())
	if l.LogStartOffset() != 5 || l.LogEndOffset() != 5 {
		t.Fatalf("start %d end %d, want 5 5", l.LogStartOffset(), l.LogEndOffset())
	}
	if r := appendN(t, l, 0, 1, 1, 1); r.BaseOffset != 5 {
		t.Fatalf("append at %d", r.BaseOffset)
	}
}

func TestRetentionByTime(t *testing.T) {
	e := newEnv(t)
	cfg := smallSegments()
	cfg.RetentionMs = 10_000
	l := e.open(cfg)
	now := e.clock.Now().UnixMilli()
	for i := range 40 {
		appendN(t, l, 0, 2, 100, now-20_000) // old
		_ = i
	}
	oldEnd := l.LogEndOffset()
	for range 40 {
		appendN(t, l, 0, 2, 100, now) // fresh
	}
	before := len(segments(t, e.partDir()))
	e.b.EnforceRetention()
	after := segments(t, e.partDir())
	if len(after) >= before {
		t.Fatalf("no segment deleted: %d -> %d", before, len(after))
	}
	lso := l.LogStartOffset()
	if lso == 0 || lso > oldEnd {
		t.Fatalf("log start %d, want in (0, %d]", lso, oldEnd)
	}
	if after[0] != fmt.Sprintf("%020d.log", lso) {
		t.Fatalf("first segment %s, log start %d", after[0], lso)
	}
	_, err := l.Read(context.Background(), 0, 100)
	if !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("Read(0) after retention: %v", err)
	}
	verifyAll(t, l)
	// Fresh data stays until it ages.
	e.b.EnforceRetention()
	if l.LogStartOffset() != lso {
		t.Fatal("second pass deleted fresh data")
	}
	e.clock.Add(time.Minute)
	e.b.EnforceRetention()
	if got := segments(t, e.partDir()); len(got) != 1 {
		t.Fatalf("after everything expired: %v (the active segment stays)", got)
	}
	// The start offset survives a restart.
	lso = l.LogStartOffset()
	e.restart()
	l = e.open(cfg)
	if l.LogStartOffset() != lso {
		t.Fatalf("start after restart %d, want %d", l.LogStartOffset(), lso)
	}
}

func TestRetentionBySize(t *testing.T) {
	e := newEnv(t)
	cfg := smallSegments()
	l := e.open(cfg)
	for range 100 {
		appendN(t, l, 0, 2, 100, 1)
	}
	cfg.RetentionBytes = 10_000
	l.SetConfig(cfg) // applies live
	e.b.EnforceRetention()
	total := int64(0)
	for _, s := range segments(t, e.partDir()) {
		st, err := os.Stat(filepath.Join(e.partDir(), s))
		if err != nil {
			t.Fatal(err)
		}
		total += st.Size()
	}
	if total > 10_000+4096 || total < 10_000-4096 {
		t.Fatalf("%d bytes retained for retention.bytes=10000 with 4 KiB segments", total)
	}
	if l.LogStartOffset() == 0 {
		t.Fatal("log start did not move")
	}
	verifyAll(t, l)
}

func TestDeleteRecordsDeletesSegments(t *testing.T) {
	e := newEnv(t)
	l := e.open(smallSegments())
	for range 50 {
		appendN(t, l, 0, 2, 100, 1)
	}
	n := len(segments(t, e.partDir()))
	if _, err := l.DeleteRecords(context.Background(), 60); err != nil {
		t.Fatal(err)
	}
	segs := segments(t, e.partDir())
	if len(segs) >= n {
		t.Fatalf("segments %d -> %d", n, len(segs))
	}
	var first int64
	fmt.Sscanf(segs[0], "%d.log", &first)
	if first > 60 {
		t.Fatalf("first segment starts at %d, past the log start 60", first)
	}
	if _, err := l.DeleteRecords(context.Background(), l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	if segs := segments(t, e.partDir()); len(segs) != 1 || segs[0] != fmt.Sprintf("%020d.log", 100) {
		t.Fatalf("after deleting everything: %v", segs)
	}
}

func TestFlushPolicies(t *testing.T) {
	// 30 appends of 2 records: flush.messages=1 fsyncs each append,
	// flush.messages=5 every third (6 records unflushed), flush.ms none
	// on the append path but the flusher catches up.
	for _, c := range []struct {
		name      string
		msgs, ms  int64
		wantSyncs int64 // fsyncs on the append path; -1: the flusher's
	}{{"every append", 1, -1, 30}, {"every 5 records", 5, -1, 10}, {"periodic", -1, 10, -1}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			cfg := storagetest.Config()
			cfg.FlushMessages, cfg.FlushMs = c.msgs, c.ms
			l := e.open(cfg)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // concurrent reader
				defer wg.Done()
				for l.LogEndOffset() < 60 {
					if _, err := l.Read(context.Background(), 0, 1<<20); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			for range 30 {
				appendN(t, l, 0, 2, 100, 1)
			}
			wg.Wait()
			if c.wantSyncs >= 0 {
				if got := disklog.Syncs(l); got != c.wantSyncs {
					t.Fatalf("%d fsyncs for 30 appends, want %d", got, c.wantSyncs)
				}
			} else {
				deadline := time.Now().Add(10 * time.Second)
				for disklog.Flushed(l) < l.LogEndOffset() {
					if time.Now().After(deadline) {
						t.Fatalf("flush.ms=%d: %d of %d offsets flushed after 10 s (%d fsyncs)", c.ms, disklog.Flushed(l), l.LogEndOffset(), disklog.Syncs(l))
					}
					time.Sleep(5 * time.Millisecond)
				}
				if disklog.Syncs(l) == 0 {
					t.Fatal("everything flushed without an fsync")
				}
			}
			verifyAll(t, l)
		})
	}
}

func TestOpenTwiceSharesLog(t *testing.T) {
	e := newEnv(t)
	a := e.open(storagetest.Config())
	b := e.open(storagetest.Config())
	if a != b {
		t.Fatal("second Open returned a different log")
	}
	appendN(t, a, 0, 1, 1, 1)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	c := e.open(storagetest.Config())
	if c == a || c.LogEndOffset() != 1 {
		t.Fatalf("reopen after close: same=%v end %d", c == a, c.LogEndOffset())
	}
}

func TestDeleteTopicClosesOpenLogs(t *testing.T) {
	e := newEnv(t)
	l := e.open(storagetest.Config())
	appendN(t, l, 0, 3, 1, 1)
	if err := e.b.DeleteTopic(context.Background(), tp0.Topic); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(context.Background(), 0, 10); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Read on a deleted topic's log: %v", err)
	}
	if _, err := os.Stat(e.partDir()); !os.IsNotExist(err) {
		t.Fatalf("partition dir still there: %v", err)
	}
}

func TestBackendLockAndNames(t *testing.T) {
	e := newEnv(t)
	if _, err := disklog.New(e.dir, disklog.Options{Logger: quietLogger()}); err == nil {
		t.Fatal("second backend on the same directory")
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a b", strings.Repeat("x", 250), "../x"} {
		if _, err := e.b.Open(context.Background(), storage.TopicPartition{Topic: bad}, storagetest.Config()); err == nil {
			t.Errorf("Open accepted topic %q", bad)
		}
	}
	if _, err := e.b.Open(context.Background(), storage.TopicPartition{Topic: "ok", Partition: -1}, storagetest.Config()); err == nil {
		t.Error("Open accepted partition -1")
	}
	if err := e.b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.b.Open(context.Background(), tp0, storagetest.Config()); !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("Open on a closed backend: %v", err)
	}
	e.b = nil
}

func TestAppendRejectsBadBatches(t *testing.T) {
	e := newEnv(t)
	l := e.open(storagetest.Config())
	good := storagetest.MakeBatch(t, 2, 10, 1)
	for name, raw := range map[string][]byte{
		"truncated":   good[:len(good)-1],
		"extra bytes": append(append([]byte(nil), good...), 0),
		"magic 1":     func() []byte { b := append([]byte(nil), good...); b[16] = 1; return b }(),
	} {
		if _, err := l.Append(context.Background(), 0, []storage.Batch{{Raw: raw}}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := l.Append(context.Background(), 0, nil); err == nil {
		t.Error("empty append accepted")
	}
	if l.LogEndOffset() != 0 {
		t.Fatalf("rejected appends moved the end to %d", l.LogEndOffset())
	}
}

func appendFile(t *testing.T, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
}

func truncateBy(t *testing.T, path string, n int64) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()-n); err != nil {
		t.Fatal(err)
	}
}

// flipByte flips a byte at offset from the end (negative) of the file.
func flipByte(t *testing.T, path string, fromEnd int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[int64(len(data))+fromEnd] ^= 0xff
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, c := range []struct {
		name  string
		flush int64
	}{{"nosync", -1}, {"fsync-every-append", 1}} {
		b.Run(c.name, func(b *testing.B) {
			be, err := disklog.New(b.TempDir(), disklog.Options{Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer be.Close()
			cfg := storagetest.Config()
			cfg.FlushMessages = c.flush
			l, err := be.Open(context.Background(), tp0, cfg)
			if err != nil {
				b.Fatal(err)
			}
			raw := storagetest.MakeBatch(b, 16, 1000, 1) // 16 KiB of 1 KiB records
			h, _ := recordbatch.ParseHeader(raw)
			batch := []storage.Batch{{Header: h, Raw: raw}}
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Append(context.Background(), 0, batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	be, err := disklog.New(b.TempDir(), disklog.Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	l, err := be.Open(context.Background(), tp0, storagetest.Config())
	if err != nil {
		b.Fatal(err)
	}
	raw := storagetest.MakeBatch(b, 16, 1000, 1)
	h, _ := recordbatch.ParseHeader(raw)
	for range 2048 { // 32 MiB
		if _, err := l.Append(context.Background(), 0, []storage.Batch{{Header: h, Raw: raw}}); err != nil {
			b.Fatal(err)
		}
	}
	end := l.LogEndOffset()
	next := int64(0)
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if next >= end {
			next = 0
		}
		res, err := l.Read(context.Background(), next, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		next += int64(len(res.Records) / len(raw) * 16)
	}
}
