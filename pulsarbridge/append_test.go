package pulsarbridge

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/storagetest"
)

type doneCall struct {
	i   int
	res storage.AppendResult
	err error
}

// startAppends starts n appends of one batch of per records each without
// waiting, and returns the done calls in the order they came.
func startAppends(t *testing.T, l *partitionLog, n, per, valueSize int) (<-chan doneCall, int) {
	t.Helper()
	ch := make(chan doneCall, n)
	raws := make([][]byte, n)
	for i := range raws {
		raws[i] = storagetest.MakeBatch(t, per, valueSize, int64(i))
	}
	started := 0
	for i, raw := range raws {
		err := l.AppendAsync(context.Background(), 0, []storage.Batch{{Raw: raw}}, func(res storage.AppendResult, err error) {
			ch <- doneCall{i, res, err}
		})
		if err != nil {
			break
		}
		started++
	}
	return ch, started
}

func openTestLog(t *testing.T, b *Backend, format string) *partitionLog {
	t.Helper()
	cfg := storagetest.Config()
	cfg.EntryFormat = format
	l, err := storagetest.Open(context.Background(), b, storage.TopicPartition{Topic: fmt.Sprintf("pipe-%s-%d", format, time.Now().UnixNano())}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l.(*partitionLog)
}

// TestAppendAsyncPipelined: many appends in flight at once complete in the
// order they were started, with dense offsets, and read back in full.
func TestAppendAsyncPipelined(t *testing.T) {
	for _, format := range []string{"kafka", "pulsar"} {
		t.Run(format, func(t *testing.T) {
			b := newBackend(t)
			defer b.Close()
			l := openTestLog(t, b, format)
			defer l.Close()
			const n, per = 40, 5
			ch, started := startAppends(t, l, n, per, 1000)
			if started != n {
				t.Fatalf("started %d of %d appends", started, n)
			}
			for want := range n {
				select {
				case d := <-ch:
					if d.err != nil || d.i != want || d.res.BaseOffset != int64(want*per) || d.res.LastOffset != int64(want*per+per-1) {
						t.Fatalf("done call %d: append %d, %+v, %v; want append %d at %d", want, d.i, d.res, d.err, want, want*per)
					}
				case <-time.After(time.Minute):
					t.Fatalf("append %d never completed", want)
				}
			}
			if end := l.LogEndOffset(); end != n*per {
				t.Fatalf("end %d, want %d", end, n*per)
			}
			checkDense(t, l, 0, n*per)
		})
	}
}

// TestAppendAsyncFailureSettles: the producer is closed under appends in
// flight, as when Pulsar closes a lost producer. No append is acknowledged
// after a failed one; the log refuses new appends until Settle, which
// answers the appends whose callbacks pulsar-client-go dropped and
// recovers the end from Pulsar; offsets continue densely from there and
// no acknowledged append is renumbered.
func TestAppendAsyncFailureSettles(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	l := openTestLog(t, b, "kafka")
	defer l.Close()
	ctx := context.Background()
	const n, per = 30, 100
	ch, started := startAppends(t, l, n, per, 4000) // ~400 KB each
	l.producer.Close()
	answered := map[int]bool{}
	var acked int64
	failed := false
	take := func(d doneCall) {
		if answered[d.i] {
			t.Fatalf("append %d answered twice", d.i)
		}
		answered[d.i] = true
		if d.err != nil {
			failed = true
			return
		}
		if failed {
			t.Fatalf("append %d acknowledged after an earlier one failed", d.i)
		}
		acked = d.res.LastOffset + 1
	}
	for quiet := false; !quiet; {
		select {
		case d := <-ch:
			take(d)
		case <-time.After(2 * time.Second):
			quiet = true
		}
	}
	err := l.AppendAsync(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 1, 10, 1)}}, func(storage.AppendResult, error) {})
	if !errors.Is(err, storage.ErrNeedsSettle) {
		t.Fatalf("append after the producer closed: %v, want ErrNeedsSettle", err)
	}
	if !failed && len(answered) < started {
		t.Logf("no append failed yet; %d of %d unanswered", started-len(answered), started)
	}
	if err := l.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	for len(answered) < started {
		select {
		case d := <-ch:
			take(d)
		default:
			t.Fatalf("%d of %d appends never answered after Settle", started-len(answered), started)
		}
	}
	end := l.LogEndOffset()
	if end < acked {
		t.Fatalf("end %d after settling is below the acknowledged end %d", end, acked)
	}
	res, err := l.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 3, 10, 1)}})
	if err != nil || res.BaseOffset != end {
		t.Fatalf("append after settling: %+v, %v; want base %d", res, err, end)
	}
	checkDense(t, l, 0, end+3)
}

// TestCloseWithAppendsInFlight: Close answers every append in flight.
func TestCloseWithAppendsInFlight(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	l := openTestLog(t, b, "kafka")
	ch, started := startAppends(t, l, 20, 100, 4000)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); l.Close() }()
	for range started {
		select {
		case <-ch:
		case <-time.After(time.Minute):
			t.Fatal("an append in flight was never answered after Close")
		}
	}
	wg.Wait()
	err := l.AppendAsync(context.Background(), 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 1, 10, 1)}}, func(storage.AppendResult, error) {})
	if !errors.Is(err, storage.ErrClosed) {
		t.Fatalf("append after Close: %v, want ErrClosed", err)
	}
}

// checkDense reads [from, end) and checks every offset is there once.
func checkDense(t *testing.T, l storage.PartitionLog, from, end int64) {
	t.Helper()
	ctx := context.Background()
	next := from
	for next < end {
		res, err := l.Read(ctx, next, 1<<20)
		if err != nil {
			t.Fatalf("read at %d: %v", next, err)
		}
		batches, err := recordbatch.Split(res.Records)
		if err != nil || len(batches) == 0 {
			t.Fatalf("read at %d: %d batches, %v", next, len(batches), err)
		}
		for _, b := range batches {
			if b.Header.BaseOffset != next {
				t.Fatalf("batch at %d, want %d: offsets are not dense", b.Header.BaseOffset, next)
			}
			next = b.Header.NextOffset()
		}
	}
	if next != end {
		t.Fatalf("read up to %d, want %d", next, end)
	}
}
