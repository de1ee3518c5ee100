package disklog

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/recordbatch/batchtest"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/storagetest"
)

type appended struct {
	res storage.AppendResult
	err error
}

func openGroupLog(t *testing.T) *Log {
	t.Helper()
	cfg := storagetest.Config()
	cfg.FlushMessages = 1 // an fsync before every acknowledgement
	l, err := openLog(t.TempDir(), storage.TopicPartition{Topic: "g", Partition: 0}, cfg, slog.New(slog.DiscardHandler), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func appendAsync(t *testing.T, l *Log, epoch int32, out chan<- appended) {
	t.Helper()
	b := storage.Batch{Raw: batchtest.Simple(2, 10, time.Now().UnixMilli())}
	if err := l.AppendAsync(context.Background(), epoch, []storage.Batch{b}, func(r storage.AppendResult, err error) { out <- appended{r, err} }); err != nil {
		t.Fatalf("AppendAsync: %v", err)
	}
}

func wait(t *testing.T, ch <-chan appended) appended {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("an append was not acknowledged within 30 s")
		return appended{}
	}
}

// TestGroupCommit: appends started while another is being written share
// its successor's fsync; each is acknowledged in order at the offsets
// AppendAsync gave it, once its data is fsynced and readable.
func TestGroupCommit(t *testing.T) {
	l := openGroupLog(t)
	out := make(chan appended, 100)
	// Hold the writer so the appends queue up behind the first one.
	l.appendMu.Lock()
	for range 10 {
		appendAsync(t, l, 0, out)
	}
	if n := l.LogEndOffset(); n != 0 {
		t.Fatalf("log end %d before any append was written", n)
	}
	l.appendMu.Unlock()
	for i := range 10 {
		a := wait(t, out)
		if a.err != nil || a.res.BaseOffset != int64(2*i) || a.res.LastOffset != int64(2*i+1) {
			t.Fatalf("append %d acknowledged as %+v, %v; want offsets %d-%d", i, a.res, a.err, 2*i, 2*i+1)
		}
		if end := l.LogEndOffset(); end < a.res.LastOffset+1 {
			t.Fatalf("append %d acknowledged before it is visible (log end %d)", i, end)
		}
	}
	if s := l.syncs.Load(); s > 2 {
		t.Fatalf("10 queued appends took %d fsyncs, want at most 2 (the first, then the rest together)", s)
	}
	res, err := l.Read(context.Background(), 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n := recordbatch.CountRecords(res.Records); n != 20 {
		t.Fatalf("read %d records back, want 20", n)
	}
}

// TestGroupCommitFailure: an append that fails fails those queued after
// it; the log then refuses appends (ErrNeedsSettle) until Settle, and
// appends after it continue at the log's real end.
func TestGroupCommitFailure(t *testing.T) {
	l := openGroupLog(t)
	out := make(chan appended, 10)
	appendAsync(t, l, 5, out)
	if a := wait(t, out); a.err != nil {
		t.Fatal(a.err)
	}
	l.appendMu.Lock()
	appendAsync(t, l, 3, out) // an older leader epoch: fenced
	appendAsync(t, l, 5, out) // queued behind it
	l.appendMu.Unlock()
	for i := range 2 {
		if a := wait(t, out); !errors.Is(a.err, storage.ErrFenced) {
			t.Fatalf("append %d behind a fenced one: %v, want ErrFenced", i, a.err)
		}
	}
	err := l.AppendAsync(context.Background(), 5, []storage.Batch{{Raw: batchtest.Simple(1, 10, 0)}}, func(storage.AppendResult, error) {})
	if !errors.Is(err, storage.ErrNeedsSettle) {
		t.Fatalf("AppendAsync after a failure: %v, want ErrNeedsSettle", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := l.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	appendAsync(t, l, 5, out)
	if a := wait(t, out); a.err != nil || a.res.BaseOffset != 2 {
		t.Fatalf("append after Settle: %+v, %v; want offset 2", a.res, a.err)
	}
}

// TestGroupCommitLogAppendTime: on a LogAppendTime topic AppendAsync
// stamps the batches before it returns, and the acknowledgement reports
// that time.
func TestGroupCommitLogAppendTime(t *testing.T) {
	cfg := storagetest.Config()
	cfg.LogAppendTime = true
	now := time.UnixMilli(1_700_000_000_000)
	l, err := openLog(t.TempDir(), storage.TopicPartition{Topic: "lat", Partition: 0}, cfg, slog.New(slog.DiscardHandler), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out := make(chan appended, 1)
	b := storage.Batch{Raw: batchtest.Simple(3, 10, 5)}
	if err := l.AppendAsync(context.Background(), 0, []storage.Batch{b}, func(r storage.AppendResult, err error) { out <- appended{r, err} }); err != nil {
		t.Fatal(err)
	}
	h, err := recordbatch.ParseHeader(b.Raw) // stamped already
	if err != nil || h.MaxTimestamp != now.UnixMilli() || h.Attributes&recordbatch.AttrTimestampType == 0 {
		t.Fatalf("batch after AppendAsync: %+v %v; want LogAppendTime %d", h, err, now.UnixMilli())
	}
	if a := wait(t, out); a.err != nil || a.res.LogAppendTime != now.UnixMilli() {
		t.Fatalf("acknowledged %+v %v; want LogAppendTime %d", a.res, a.err, now.UnixMilli())
	}
}

// TestAssignedOffsetMismatch: an append of batches given offsets that are
// not the log end (something else appended meanwhile) is refused and
// leaves the log as it was, so no caller is told offsets its data did not
// get.
func TestAssignedOffsetMismatch(t *testing.T) {
	l := openGroupLog(t)
	raw := batchtest.Simple(2, 10, 0)
	recordbatch.SetBaseOffset(raw, 5)
	if _, err := l.append(context.Background(), 0, []storage.Batch{{Raw: raw}}, true); err == nil {
		t.Fatal("a batch assigned offset 5 was appended at log end 0")
	}
	if end := l.LogEndOffset(); end != 0 {
		t.Fatalf("log end %d after the refused append", end)
	}
}
