package e2e

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/recordbatch"
)

func fetchReq(topic string, offset int64, maxWaitMs, minBytes, maxBytes, partMax int32) *kmsg.FetchRequest {
	fr := kmsg.NewPtrFetchRequest()
	fr.Version = 11
	fr.MaxWaitMillis, fr.MinBytes, fr.MaxBytes = maxWaitMs, minBytes, maxBytes
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = offset, partMax, -1
	ft.Partitions = append(ft.Partitions, fp)
	fr.Topics = append(fr.Topics, ft)
	return fr
}

func countBatches(t *testing.T, b []byte) (batches int, next int64) {
	t.Helper()
	err := recordbatch.Iterate(b, func(h recordbatch.Header, _ []byte) bool {
		batches++
		next = h.NextOffset()
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return batches, next
}

func TestFetchLimitsAndLongPoll(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, nil)
	adm := newAdmin(t, b.addr)
	ctx := testCtx(t, time.Minute)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "f"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.addr, kgo.DefaultProduceTopic("f"), kgo.ProducerLinger(0), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for i := 0; i < 5; i++ { // five batches of one 1000-byte record
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 1000)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	c := dialRaw(t, b.addr)

	// A partition limit smaller than one batch still returns that batch.
	p := c.request(fetchReq("f", 0, 0, 1, 1<<20, 10), 1).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if n, next := countBatches(t, p.RecordBatches); p.ErrorCode != 0 || n != 1 || next != 1 {
		t.Fatalf("tiny partition limit: error %d, %d batches to %d", p.ErrorCode, n, next)
	}
	// Fetching from the middle of the log starts at the batch holding it.
	p = c.request(fetchReq("f", 3, 0, 1, 1<<20, 1<<20), 2).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if n, next := countBatches(t, p.RecordBatches); n != 2 || next != 5 || p.HighWatermark != 5 {
		t.Fatalf("from offset 3: %d batches to %d, high watermark %d", n, next, p.HighWatermark)
	}
	// The response limit caps the batches returned.
	p = c.request(fetchReq("f", 0, 0, 1, 2500, 1<<20), 3).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if n, _ := countBatches(t, p.RecordBatches); n < 1 || n > 2 {
		t.Fatalf("2500-byte response limit returned %d batches", n)
	}
	// Beyond the end: OFFSET_OUT_OF_RANGE.
	p = c.request(fetchReq("f", 6, 0, 1, 1<<20, 1<<20), 4).(*kmsg.FetchResponse).Topics[0].Partitions[0]
	if p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch at 6 of 5: error %d", p.ErrorCode)
	}
	// A long poll at the end is woken by an append: with a one-minute
	// MaxWait the answer carries the new record well within the test's
	// 20-second read deadline only if the append wakes it.
	c.write(frame(1, 11, 5, false, fetchReq("f", 5, 60_000, 1, 1<<20, 1<<20).AppendTo(nil)))
	// The append must come once the fetch is parked: /metrics says when.
	waitMetric(t, b, "kop_kafka_fetches_waiting", 1)
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("wake")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	body := c.readFrame()
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 11
	if err := resp.ReadFrom(body[4:]); err != nil {
		t.Fatal(err)
	}
	p = resp.Topics[0].Partitions[0]
	if n, next := countBatches(t, p.RecordBatches); n != 1 || next != 6 {
		t.Fatalf("long poll: %d batches to %d", n, next)
	}
}
