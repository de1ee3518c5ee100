package partition

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kop-project/kop/storage"
)

// blockingLog is a pipeLog whose AppendAsync blocks, as pulsarbridge's
// does while its in-flight window is full, until the test unblocks it.
type blockingLog struct {
	*pipeLog
	entered chan struct{} // receives once per AppendAsync that blocks
	unblock chan struct{} // closed by the test
}

func (l *blockingLog) AppendAsync(ctx context.Context, epoch int32, batches []storage.Batch, done func(storage.AppendResult, error)) error {
	l.entered <- struct{}{}
	select {
	case <-l.unblock:
	case <-ctx.Done():
		return ctx.Err()
	}
	return l.pipeLog.AppendAsync(ctx, epoch, batches, done)
}

type blockingBackend struct{ log *blockingLog }

func (b blockingBackend) Open(context.Context, storage.TopicPartition, storage.TopicConfig) (storage.PartitionLog, error) {
	return b.log, nil
}
func (b blockingBackend) DeleteTopic(context.Context, string) error { return nil }
func (b blockingBackend) Close() error                              { return nil }

// within fails the test when f does not return within d.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v while an append was blocked in the log: it waits for the append lock", what, d)
	}
}

// Reading the leader epoch and the config (what fetches and ListOffsets
// do) does not wait for an append blocked in the log; raising the epoch
// and changing the config do not either, and the blocked append keeps the
// epoch it was started with while the next one gets the new epoch.
func TestEpochAndConfigDoNotWaitForAppend(t *testing.T) {
	l := &blockingLog{pipeLog: newPipeLog(), entered: make(chan struct{}, 4), unblock: make(chan struct{})}
	m := NewManager(blockingBackend{l}, nil)
	tp := storage.TopicPartition{Topic: "t"}
	p, err := m.Acquire(context.Background(), tp, 3, storage.TopicConfig{MaxMessageBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var wg sync.WaitGroup
	defer wg.Wait()
	unblocked := false
	defer func() {
		if !unblocked {
			close(l.unblock)
		}
	}()
	first := make(chan *Pending, 1)
	wg.Add(1)
	go func() { defer wg.Done(); first <- p.AppendAsync(ctx, idem(t, 0, 2)) }()
	select {
	case <-l.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the append never reached the log")
	}

	// The append holds the partition's append lock and is blocked in the
	// log: reads of the epoch and config must not wait for it.
	const d = 10 * time.Second
	within(t, d, "LeaderEpoch", func() {
		if e := p.LeaderEpoch(); e != 3 {
			t.Errorf("leader epoch %d, want 3", e)
		}
	})
	within(t, d, "Config", func() {
		if c := p.Config(); c.MaxMessageBytes != 1<<20 {
			t.Errorf("config %+v", c)
		}
	})
	within(t, d, "Acquire of an open partition (raises the epoch)", func() {
		if _, err := m.Acquire(ctx, tp, 5, storage.TopicConfig{}); err != nil {
			t.Errorf("acquire: %v", err)
		}
	})
	within(t, d, "SetConfig", func() { m.SetConfig("t", storage.TopicConfig{MaxMessageBytes: 1 << 10}) })
	within(t, d, "LeaderEpoch after Acquire", func() {
		if e := p.LeaderEpoch(); e != 5 {
			t.Errorf("leader epoch %d after Acquire with 5, want 5", e)
		}
	})
	within(t, d, "Config after SetConfig", func() {
		if c := p.Config(); c.MaxMessageBytes != 1<<10 {
			t.Errorf("config %+v after SetConfig", c)
		}
	})
	// A lower epoch never lowers it.
	p.setEpoch(4)
	if e := p.LeaderEpoch(); e != 5 {
		t.Fatalf("leader epoch %d after setEpoch(4), want 5", e)
	}

	// A second append queues behind the first (appends stay in order).
	second := make(chan *Pending, 1)
	wg.Add(1)
	go func() { defer wg.Done(); second <- p.AppendAsync(ctx, idem(t, 2, 1)) }()

	close(l.unblock)
	unblocked = true
	var pends [2]*Pending
	for i, ch := range []chan *Pending{first, second} {
		select {
		case pends[i] = <-ch:
		case <-time.After(d):
			t.Fatalf("append %d not started after the log unblocked", i)
		}
	}
	for range pends {
		l.complete(t, true, nil)
	}
	for i, want := range []struct {
		base, last int64
		epoch      int32
	}{{0, 1, 3}, {2, 2, 5}} {
		res, err := wantDone(t, "append", pends[i])
		if err != nil || res.BaseOffset != want.base || res.LastOffset != want.last {
			t.Fatalf("append %d: %+v %v, want offsets %d..%d", i, res, err, want.base, want.last)
		}
		l.mu.Lock()
		got := l.stored[i].Header.PartitionLeaderEpoch
		l.mu.Unlock()
		if got != want.epoch {
			t.Fatalf("append %d stored with leader epoch %d, want %d", i, got, want.epoch)
		}
	}
}
