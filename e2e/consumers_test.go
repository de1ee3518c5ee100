package e2e

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchValue is record i's value: 1 KiB that says which record it is.
func fetchValue(i int) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("r%07d|", i)), 128)
}

// TestConcurrentConsumersOnPulsar: consumers reading the same partitions at
// once, with fetches of different sizes, each get every record intact and
// in order. Fetch buffers are recycled between requests and connections
// (internal/bufpool); kafkaapi's TestFetchReleasesAfterEncoding pins down
// when a buffer may be reused.
func TestConcurrentConsumersOnPulsar(t *testing.T) {
	b, _, _ := startOnPulsar(t, nil)
	const topic, n, consumers = "fetch-concurrent", 20_000, 4
	if _, err := newAdmin(t, b.addr).CreateTopic(testCtx(t, time.Minute), 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx := testCtx(t, 2*time.Minute)
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: fetchValue(i)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, consumers)
	for c := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cons := newClient(t, b.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.FetchMaxPartitionBytes(int32(64<<10*(c+1))))
			seen := 0
			next := map[int32]int64{}
			for seen < n {
				fs := cons.PollFetches(ctx)
				if ctx.Err() != nil {
					errs <- fmt.Errorf("consumer %d: %d of %d records before the deadline", c, seen, n)
					return
				}
				var bad error
				fs.EachRecord(func(r *kgo.Record) {
					var i int
					if _, err := fmt.Sscan(string(r.Key), &i); (err != nil || !bytes.Equal(r.Value, fetchValue(i)) || r.Offset != next[r.Partition]) && bad == nil {
						bad = fmt.Errorf("consumer %d: partition %d offset %d (want %d): key %q, value %.40q…", c, r.Partition, r.Offset, next[r.Partition], r.Key, r.Value)
					}
					next[r.Partition] = r.Offset + 1
					seen++
				})
				if bad != nil {
					errs <- bad
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
