package kafkaapi

import (
	"bytes"
	"math/rand/v2"
	"net"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/storage"
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
func joined(t *testing.T, frame []byte, parts []outPart) []byte {
	t.Helper()
	if parts == nil {
		return frame
	}
	var out []byte
	for _, p := range parts {
		if p.file == nil {
			out = append(out, p.b...)
			continue
		}
		b := make([]byte, p.n)
		if _, err := p.file.ReadAt(b, p.pos); err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	return out
}

// toRegions moves some partitions' records into a file, as regions.
func toRegions(t *testing.T, rng *rand.Rand, f *os.File, resp *kmsg.FetchResponse, all bool) map[*kmsg.FetchResponseTopicPartition]*storage.Region {
	regions := map[*kmsg.FetchResponseTopicPartition]*storage.Region{}
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			sp := &resp.Topics[i].Partitions[j]
			if len(sp.RecordBatches) == 0 || !all && rng.IntN(2) == 0 {
				continue
			}
			st, err := f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			pos := st.Size() + int64(rng.IntN(100))
			if _, err := f.WriteAt(sp.RecordBatches, pos); err != nil {
				t.Fatal(err)
			}
			regions[sp] = &storage.Region{File: f, Pos: pos, Len: len(sp.RecordBatches)}
			sp.RecordBatches = []byte{}
		}
	}
	return regions
}

// TestFetchFrameMatchesEncoding: a Fetch response cut around its records
// is, byte for byte, the frame kmsg encodes, at every version KOP serves.
func TestFetchFrameMatchesEncoding(t *testing.T) {
	c := &conn{s: &Server{fetchSecret: newFetchSecret()}}
	rng := rand.New(rand.NewPCG(1, 2))
	f, err := os.CreateTemp(t.TempDir(), "segment")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for v := int16(4); v <= 17; v++ {
		for i := range 200 {
			resp := randomFetchResponse(rng, v)
			h := header{correlationID: int32(i)}
			flexibleHeader := resp.IsFlexible()
			want := append([]byte(nil), c.frame(h, resp, flexibleHeader)...)
			records := 0
			eachRecords(resp, func(*[]byte) { records++ })
			var regions map[*kmsg.FetchResponseTopicPartition]*storage.Region
			if i%2 == 1 {
				regions = toRegions(t, rng, f, resp, false)
			}
			before := append([]byte(nil), c.frame(h, resp, flexibleHeader)...)
			frame, parts := c.fetchFrame(h, resp, flexibleHeader, regions)
			got := joined(t, frame, parts)
			if !bytes.Equal(got, want) {
				t.Fatalf("v%d response %d (%d regions): %d bytes in parts, want the %d kmsg encodes", v, i, len(regions), len(got), len(want))
			}
			// The response itself is left as it was.
			if again := c.frame(h, resp, flexibleHeader); !bytes.Equal(again, before) {
				t.Fatalf("v%d response %d: fetchFrame changed the response", v, i)
			}
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
		for _, asRegion := range []bool{false, true} {
			var regions map[*kmsg.FetchResponseTopicPartition]*storage.Region
			if asRegion {
				f, err := os.CreateTemp(t.TempDir(), "segment")
				if err != nil {
					t.Fatal(err)
				}
				regions = toRegions(t, rand.New(rand.NewPCG(0, 0)), f, resp, true)
				if len(regions) != 1 {
					t.Fatalf("%d regions", len(regions))
				}
				defer f.Close()
			}
			frame, parts := c.fetchFrame(h, resp, resp.IsFlexible(), regions)
			if v < 13 && parts != nil {
				t.Errorf("v%d: cut at a marker in the topic name", v)
			}
			if v >= 13 && parts == nil {
				t.Errorf("v%d: encoded whole, with no name in the frame", v)
			}
			if !bytes.Equal(joined(t, frame, parts), want) {
				t.Errorf("v%d (regions %v): the whole encoding differs from kmsg's", v, asRegion)
			}
			if asRegion {
				rp.RecordBatches = bytes.Repeat([]byte{7}, 5000)
				resp.Topics[0].Partitions[0] = rp
			}
		}
	}
}

// TestSendFile: sendFile moves a file range to a TCP peer, also when it is
// larger than the socket buffers (the peer reads slowly: EAGAIN), and
// refuses a connection that is not plain TCP.
func TestSendFile(t *testing.T) {
	data := make([]byte, 12<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	f, err := os.CreateTemp(t.TempDir(), "segment")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	const pos, n = 12345, 10 << 20
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		buf := make([]byte, n)
		for read := 0; read < n; {
			m, err := c.Read(buf[read:min(n, read+64<<10)])
			if err != nil {
				break
			}
			read += m
		}
		got <- buf
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(time.Minute))
	if err := sendFile(c, f, pos, n); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, data[pos:pos+n]) {
		t.Fatal("the peer received other bytes than the file range")
	}
	if err := sendFile(&net.UnixConn{}, f, 0, 1); err == nil {
		t.Error("sendfile on a non-TCP connection: no error")
	}
}

// eachRecords calls f with every non-empty record set of resp, in the
// order they are encoded.
func eachRecords(resp *kmsg.FetchResponse, f func(*[]byte)) {
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if rb := &resp.Topics[i].Partitions[j].RecordBatches; len(*rb) > 0 {
				f(rb)
			}
		}
	}
}
