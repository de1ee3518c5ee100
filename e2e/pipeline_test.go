package e2e

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestPipelinedProduceOnPulsar writes a burst of requests on one
// connection without waiting, as Kafka producers with several requests in
// flight do: idempotent Produce requests (whose appends to Pulsar are in
// flight together), a Metadata request between them and a retry of a
// batch still in flight. The responses come back in request order, the
// offsets are dense in request order, the retry gets the original's
// offset, and a consumer reads every record once.
func TestPipelinedProduceOnPulsar(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b, _, _ := startOnPulsar(t, nil)
	topic := "pipelined"
	if _, err := newAdmin(t, b.addr).CreateTopic(testCtx(t, time.Minute), 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, b.addr)
	initReq := kmsg.NewPtrInitProducerIDRequest()
	initReq.Version = 1
	initResp := c.request(initReq, 1).(*kmsg.InitProducerIDResponse)
	if initResp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(initResp.ErrorCode))
	}
	pid := initResp.ProducerID

	const per = 100
	type sent struct {
		corr int32
		req  kmsg.Request
		seq  int32 // produce: the batch's first sequence
	}
	var burst []sent
	var frames []byte
	add := func(req kmsg.Request, seq int32) {
		corr := int32(10 + len(burst))
		burst = append(burst, sent{corr, req, seq})
		frames = append(frames, frame(req.Key(), req.GetVersion(), corr, req.IsFlexible(), req.AppendTo(nil))...)
	}
	produce := func(seq int32) *kmsg.ProduceRequest {
		return produceReq(topic, 7, -1, makeBatch(per, 200, pid, seq))
	}
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 7
	for i := range 3 {
		add(produce(int32(i*per)), int32(i*per))
	}
	add(meta, -1)
	for i := 3; i < 6; i++ {
		add(produce(int32(i*per)), int32(i*per))
	}
	add(produce(5*per), 5*per) // the producer retries the last batch
	c.write(frames)

	for i, s := range burst {
		body := c.readFrame()
		if got := int32(binary.BigEndian.Uint32(body)); got != s.corr {
			t.Fatalf("response %d: correlation id %d, want %d: responses out of order", i, got, s.corr)
		}
		resp := s.req.ResponseKind()
		rb := body[4:]
		if resp.IsFlexible() {
			rb = rb[1:]
		}
		if err := resp.ReadFrom(rb); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		switch r := resp.(type) {
		case *kmsg.MetadataResponse:
			if len(r.Topics) == 0 {
				t.Fatalf("metadata response without topics")
			}
		case *kmsg.ProduceResponse:
			p := r.Topics[0].Partitions[0]
			if p.ErrorCode != 0 {
				t.Fatalf("produce seq %d: %v", s.seq, kerr.ErrorForCode(p.ErrorCode))
			}
			if want := int64(s.seq); p.BaseOffset != want {
				t.Fatalf("produce seq %d: base offset %d, want %d", s.seq, p.BaseOffset, want)
			}
		}
	}

	cl := newClient(t, b.addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx := testCtx(t, time.Minute)
	next := int64(0)
	for next < 6*per {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consuming at %d: %v", next, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next {
				t.Fatalf("record at offset %d, want %d", r.Offset, next)
			}
			next++
		})
	}
	end := listEnd(t, cl, topic)
	if end != 6*per {
		t.Fatalf("log end offset %d, want %d: the retried batch was written twice", end, 6*per)
	}
}

// listEnd returns partition 0's log end offset.
func listEnd(t *testing.T, cl *kgo.Client, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testCtx(t, time.Minute), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("ListOffsets: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p.Offset
}
