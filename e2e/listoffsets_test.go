package e2e

import (
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestOffsetsForTimesRecordPrecision: ListOffsets by timestamp lands on the
// first record whose timestamp is >= the target, inside a batch whose
// timestamps do not grow, on the embedded log and on Pulsar.
func TestOffsetsForTimesRecordPrecision(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	for _, backend := range []string{"embedded", "pulsar", "pulsar-entryformat"} {
		t.Run(backend, func(t *testing.T) {
			var b *broker
			switch backend {
			case "embedded":
				b = startStandalone(t, nil)
			case "pulsar":
				b, _, _ = startOnPulsar(t, nil)
			default:
				b, _, _ = startOnPulsar(t, map[string]string{"entryFormat": "pulsar"})
			}
			ctx := testCtx(t, 2*time.Minute)
			adm := newAdmin(t, b.addr)
			if _, err := adm.CreateTopic(ctx, 1, 1, nil, "times"); err != nil {
				t.Fatal(err)
			}
			// One batch: offsets 0-3 at base+1000, 1500, 1200, 1400 ms.
			base := time.Now().Add(-time.Hour).UnixMilli()
			// No RecordDeliveryTimeout: kgo counts it from the record's
			// timestamp, an hour ago; ctx bounds the produce instead.
			cl := newClient(t, b.addr, kgo.ManualFlushing())
			errs := make(chan error, 4)
			for _, ms := range []int64{1000, 1500, 1200, 1400} {
				r := &kgo.Record{Topic: "times", Value: []byte("v"), Timestamp: time.UnixMilli(base + ms)}
				cl.Produce(ctx, r, func(_ *kgo.Record, err error) { errs <- err })
			}
			if err := cl.Flush(ctx); err != nil {
				t.Fatalf("flush: %v", err)
			}
			for range 4 {
				if err := <-errs; err != nil {
					t.Fatalf("produce: %v", err)
				}
			}
			ends, err := adm.ListEndOffsets(ctx, "times")
			if o, _ := ends.Lookup("times", 0); err != nil || o.Offset != 4 {
				t.Fatalf("end offset after producing 4 records: %+v, %v", o, err)
			}
			for _, c := range []struct{ at, off, ts int64 }{
				{900, 0, 1000}, {1000, 0, 1000}, {1001, 1, 1500}, {1300, 1, 1500}, {1501, 4, -1}, // after the last: the end offset
			} {
				if c.ts >= 0 {
					c.ts += base
				}
				lo, err := adm.ListOffsetsAfterMilli(ctx, base+c.at, "times")
				if err != nil {
					t.Fatal(err)
				}
				o, ok := lo.Lookup("times", 0)
				if !ok || o.Err != nil || o.Offset != c.off || o.Timestamp != c.ts {
					t.Fatalf("offsets after %d ms: %+v (found %v); want offset %d at %d", c.at, o, ok, c.off, c.ts)
				}
			}
		})
	}
}

// TestOffsetsTopicIsInternal: __consumer_offsets is in Metadata as an
// internal topic that clients cannot write, create or delete, and that
// reads as empty.
func TestOffsetsTopicIsInternal(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, nil)
	ctx := testCtx(t, 2*time.Minute)
	adm := newAdmin(t, b.addr)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "plain"); err != nil {
		t.Fatal(err)
	}
	tds, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tds.Has(offsetsTopic) || !tds.Has("plain") {
		t.Fatalf("ListTopics (internal left out): %v", tds.Names())
	}
	tds, err = adm.ListTopicsWithInternal(ctx)
	if err != nil {
		t.Fatal(err)
	}
	td, ok := tds[offsetsTopic]
	if !ok || !td.IsInternal || len(td.Partitions) != 50 || td.Err != nil {
		t.Fatalf("%s in ListTopicsWithInternal: %+v (found %v)", offsetsTopic, td, ok)
	}
	if res, _ := adm.CreateTopic(ctx, 1, 1, nil, offsetsTopic); !errors.Is(res.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("create %s: %v", offsetsTopic, res.Err)
	}
	if res, _ := adm.DeleteTopic(ctx, offsetsTopic); !errors.Is(res.Err, kerr.InvalidTopicException) {
		t.Fatalf("delete %s: %v", offsetsTopic, res.Err)
	}
	cl := newClient(t, b.addr, kgo.RecordDeliveryTimeout(30*time.Second), kgo.RecordRetries(0))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: offsetsTopic, Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.InvalidTopicException) {
		t.Fatalf("produce to %s: %v", offsetsTopic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, offsetsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := ends.Lookup(offsetsTopic, 7); !ok || o.Err != nil || o.Offset != 0 {
		t.Fatalf("end offset of %s-7: %+v", offsetsTopic, o)
	}
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = offsetsTopic, td.ID // the client picks the version: v13+ names topics by id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.PartitionMaxBytes = 3, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.HighWatermark != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("fetch %s-3: error %d, high watermark %d, %d bytes", offsetsTopic, p.ErrorCode, p.HighWatermark, len(p.RecordBatches))
	}
}

const offsetsTopic = "__consumer_offsets"
