package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashDuringAcksAllProduce kills the broker with SIGKILL while an
// acks=all producer is writing, restarts it, and checks that every
// acknowledged record is there at the offset it was acknowledged with, and
// that offsets continue densely after the restart.
func TestCrashDuringAcksAllProduce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, nil)
	adm := newAdmin(t, b.addr)
	if _, err := adm.CreateTopic(testCtx(t, time.Minute), 2, 1, nil, "crash"); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		part int32
		off  int64
	}
	acked := map[string]ack{}
	var mu sync.Mutex
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr), kgo.DefaultProduceTopic("crash"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.RecordRetries(0),
		kgo.RequestRetries(0), kgo.ProduceRequestTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			key := fmt.Sprintf("r%d", i)
			r := &kgo.Record{Key: []byte(key), Value: []byte(key)}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err == nil {
					mu.Lock()
					acked[string(r.Key)] = ack{r.Partition, r.Offset}
					mu.Unlock()
				}
			})
			if i%50 == 49 {
				time.Sleep(time.Millisecond)
			}
		}
	}()
	// Let the producer get going, then crash the broker under it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 3000 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.kill9()
	cancel()
	wg.Wait()
	cl.Close()
	mu.Lock()
	total := len(acked)
	mu.Unlock()
	if total < 100 {
		t.Fatalf("only %d records acknowledged before the crash", total)
	}

	b.start()
	recs := readUntilEnd(t, b.addr, "crash")
	byKey := map[string]ack{}
	for _, r := range recs {
		byKey[string(r.Key)] = ack{r.Partition, r.Offset}
	}
	checkDense(t, recs)
	for k, a := range acked {
		got, ok := byKey[k]
		if !ok {
			t.Fatalf("acknowledged record %s (partition %d offset %d) lost in the crash", k, a.part, a.off)
		}
		if got != a {
			t.Fatalf("record %s acknowledged at %d/%d, found at %d/%d", k, a.part, a.off, got.part, got.off)
		}
	}
	t.Logf("%d acknowledged records survived the crash (%d on disk)", total, len(recs))

	// Offsets continue densely after recovery.
	cl2 := newClient(t, b.addr, kgo.DefaultProduceTopic("crash"))
	produceN(t, cl2, "crash", 200)
	checkDense(t, readUntilEnd(t, b.addr, "crash"))
}

// readUntilEnd reads every partition of topic from the start up to the
// end offsets listed when it starts.
func readUntilEnd(t testing.TB, addr, topic string) []*kgo.Record {
	t.Helper()
	adm := newAdmin(t, addr)
	ctx := testCtx(t, 2*time.Minute)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
		}
		want += int(o.Offset)
	})
	if want == 0 {
		return nil
	}
	recs := consumeAll(t, addr, topic, want)
	if len(recs) != want {
		t.Fatalf("read %d records, want %d", len(recs), want)
	}
	return recs
}
