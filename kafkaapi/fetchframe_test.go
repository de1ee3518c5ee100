package kafkaapi

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// randomFetchResponse is a Fetch response of version v with a mix of
// partitions: records of many sizes, empty and null record sets, aborted
// transactions, errors, and (v12+) tagged fields.
func randomFetchResponse(rng *rand.Rand, v int16) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = v
	resp.ThrottleMillis = rng.Int32N(100)
	resp.SessionID = rng.Int32N(3)
	for t := range rng.IntN(4) {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = string(rune('a'+t)) + "-topic"
		rt.TopicID[0] = byte(t + 1)
		for p := range rng.IntN(5) {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = int32(p)
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = rng.Int64(), rng.Int64(), rng.Int64N(10)
			switch rng.IntN(4) {
			case 0: // null
			case 1:
				rp.RecordBatches = []byte{}
			default:
				rp.RecordBatches = make([]byte, rng.IntN(1<<rng.IntN(18)))
				for i := range rp.RecordBatches {
					rp.RecordBatches[i] = byte(rng.IntN(256))
				}
			}
			if rng.IntN(3) == 0 {
				rp.ErrorCode = 1
			}
			for range rng.IntN(3) {
				at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
				at.ProducerID, at.FirstOffset = rng.Int64(), rng.Int64()
				rp.AbortedTransactions = append(rp.AbortedTransactions, at)
			}
			if v >= 12 && rng.IntN(3) == 0 {
				rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset = 3, 42
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = 2, 7
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if v >= 16 && rng.IntN(2) == 0 {
		b := kmsg.NewFetchResponseBroker()
		b.NodeID, b.Host, b.Port = 2, "127.0.0.1", 9093
		resp.Brokers = append(resp.Brokers, b)
	}
	return resp
}

// joined is what the writer sends for a frame and its parts.
func joined(frame []byte, parts [][]byte) []byte {
	if parts == nil {
		return frame
	}
	return bytes.Join(parts, nil)
}

// TestFetchFrameMatchesEncoding: a Fetch response cut around its records
// is, byte for byte, the frame kmsg encodes, at every version KOP serves.
func TestFetchFrameMatchesEncoding(t *testing.T) {
	c := &conn{s: &Server{fetchSecret: newFetchSecret()}}
	rng := rand.New(rand.NewPCG(1, 2))
	for v := int16(4); v <= 17; v++ {
		for i := range 200 {
			resp := randomFetchResponse(rng, v)
			h := header{correlationID: int32(i)}
			flexibleHeader := resp.IsFlexible()
			want := append([]byte(nil), c.frame(h, resp, flexibleHeader)...)
			frame, parts := c.fetchFrame(h, resp, flexibleHeader)
			got := joined(frame, parts)
			if !bytes.Equal(got, want) {
				t.Fatalf("v%d response %d: %d bytes in parts, want the %d kmsg encodes", v, i, len(got), len(want))
			}
			// The response itself is left as it was.
			if again := c.frame(h, resp, flexibleHeader); !bytes.Equal(again, want) {
				t.Fatalf("v%d response %d: fetchFrame changed the response", v, i)
			}
			records := 0
			c.s.eachRecords(resp, func(*[]byte) { records++ })
			if records > 0 && parts == nil {
				t.Fatalf("v%d response %d: %d record sets, encoded whole", v, i, records)
			}
		}
	}
}

// TestFetchFrameMarkerElsewhere: a marker that turns up before its
// partition (here in a topic name, as it never could without the secret)
// makes fetchFrame encode the response whole, still correctly. From v13
// topics go by id: the name is not in the frame.
func TestFetchFrameMarkerElsewhere(t *testing.T) {
	c := &conn{s: &Server{fetchSecret: newFetchSecret()}}
	for _, v := range []int16{4, 11, 12, 17} {
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = v
		rt := kmsg.NewFetchResponseTopic()
		marker := append(c.s.fetchSecret[:], 0, 0, 0, 0, 0, 0, 0, 0)
		rt.Topic = string(marker)
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.RecordBatches = bytes.Repeat([]byte{7}, 5000)
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		h := header{correlationID: 9}
		want := append([]byte(nil), c.frame(h, resp, resp.IsFlexible())...)
		frame, parts := c.fetchFrame(h, resp, resp.IsFlexible())
		if v < 13 && parts != nil {
			t.Errorf("v%d: cut at a marker in the topic name", v)
		}
		if v >= 13 && parts == nil {
			t.Errorf("v%d: encoded whole, with no name in the frame", v)
		}
		if !bytes.Equal(joined(frame, parts), want) {
			t.Errorf("v%d: the whole encoding differs from kmsg's", v)
		}
	}
}
