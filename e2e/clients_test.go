package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t testing.TB, addr string) *kadm.Client {
	return kadm.NewClient(newClient(t, addr))
}

// produceN produces n records with keys k<i> and values v<i> and fails the
// test on any error.
func produceN(t testing.TB, cl *kgo.Client, topic string, n int) {
	t.Helper()
	ctx := testCtx(t, 2*time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := 0; i < n; i++ {
		wg.Add(1)
		r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
}

// consumeAll reads every partition of topic from the start without a group
// until n records arrived, and returns them.
func consumeAll(t testing.TB, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testCtx(t, 2*time.Minute)
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records before timeout", len(out), n)
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Logf("fetch error %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// checkDense asserts that per partition the offsets are 0..n-1 in order.
func checkDense(t testing.TB, recs []*kgo.Record) map[int32]int {
	t.Helper()
	next := map[int32]int64{}
	for _, r := range recs {
		if r.Offset != next[r.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
	}
	counts := map[int32]int{}
	for p, n := range next {
		counts[p] = int(n)
	}
	return counts
}

func TestKgoProduceConsumeAcrossRestart(t *testing.T) {
	b := startStandalone(t, nil)
	adm := newAdmin(t, b.addr)
	ctx := testCtx(t, time.Minute)
	if _, err := adm.CreateTopic(ctx, 4, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.addr, kgo.DefaultProduceTopic("orders"))
	produceN(t, cl, "orders", 5000)
	recs := consumeAll(t, b.addr, "orders", 5000)
	counts := checkDense(t, recs)
	if len(counts) != 4 {
		t.Fatalf("records landed in %d partitions, want 4", len(counts))
	}
	seen := map[string]bool{}
	for _, r := range recs {
		if string(r.Value) != "v"+string(r.Key[1:]) {
			t.Fatalf("record key %q value %q mismatch", r.Key, r.Value)
		}
		seen[string(r.Key)] = true
	}
	if len(seen) != 5000 {
		t.Fatalf("%d distinct keys, want 5000", len(seen))
	}
	cl.Close()

	b.restart()
	recs = consumeAll(t, b.addr, "orders", 5000)
	checkDense(t, recs)
	// Offsets continue densely after the restart.
	cl2 := newClient(t, b.addr, kgo.DefaultProduceTopic("orders"))
	produceN(t, cl2, "orders", 1000)
	recs = consumeAll(t, b.addr, "orders", 6000)
	checkDense(t, recs)
}
