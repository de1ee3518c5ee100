package kafkaapi

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A Fetch response is mostly record bytes read from a log. fetchFrame
// encodes it without copying them into the frame: each partition's records
// are encoded as a 16-byte marker, the markers are found in the (small)
// frame in order, and the frame is cut there into parts that the writer
// sends around the records themselves, with the length prefixes the
// records need. A marker is the server's random 8-byte secret and the
// partition's ordinal, so neither client data nor chance can forge one;
// still, when the secret shows up anywhere else, or a marker is not where
// it must be, the response is encoded whole instead.

// markerLen is a marker's size: the secret, then a big-endian ordinal.
const markerLen = 16

// newFetchSecret returns the random half of the server's markers.
func newFetchSecret() [8]byte {
	var s [8]byte
	rand.Read(s[:])
	return s
}

// fetchFrame encodes resp as c.frame does and returns the frame and, when
// the response carries records, the parts to write instead of it (slices
// of frame and of the records, whose buffers must stay untouched until
// they are written).
func (c *conn) fetchFrame(h header, resp *kmsg.FetchResponse, flexibleHeader bool) (frame []byte, parts [][]byte) {
	var records [][]byte
	c.s.eachRecords(resp, func(rb *[]byte) { records = append(records, *rb) })
	if len(records) == 0 {
		return c.frame(h, resp, flexibleHeader), nil
	}
	markers := make([]byte, markerLen*len(records))
	k := 0
	c.s.eachRecords(resp, func(rb *[]byte) {
		m := markers[k*markerLen : (k+1)*markerLen]
		copy(m, c.s.fetchSecret[:])
		binary.BigEndian.PutUint64(m[8:], uint64(k))
		*rb = m
		k++
	})
	frame = c.frame(h, resp, flexibleHeader)
	k = 0
	c.s.eachRecords(resp, func(rb *[]byte) { *rb = records[k]; k++ })

	// Each marker once, and nothing else that looks like one.
	if bytes.Count(frame, c.s.fetchSecret[:]) != len(records) {
		return c.refetchFrame(h, resp, flexibleHeader, frame)
	}
	flexible := resp.IsFlexible()
	prefixes := make([]byte, 0, binary.MaxVarintLen32*len(records))
	parts = make([][]byte, 0, 3*len(records)+1)
	from, size := 0, 0
	for k, rec := range records {
		m := markers[k*markerLen : (k+1)*markerLen]
		at := bytes.Index(frame[from:], m)
		if at < 0 {
			return c.refetchFrame(h, resp, flexibleHeader, frame)
		}
		at += from
		// The marker's length prefix: int32 16, or uvarint 17 (compact
		// nullable bytes: length + 1).
		var cut int
		if flexible {
			cut = at - 1
			if cut < from || frame[cut] != markerLen+1 {
				return c.refetchFrame(h, resp, flexibleHeader, frame)
			}
		} else {
			cut = at - 4
			if cut < from || binary.BigEndian.Uint32(frame[cut:at]) != markerLen {
				return c.refetchFrame(h, resp, flexibleHeader, frame)
			}
		}
		p := len(prefixes)
		if flexible {
			prefixes = binary.AppendUvarint(prefixes, uint64(len(rec))+1)
		} else {
			prefixes = binary.BigEndian.AppendUint32(prefixes, uint32(len(rec)))
		}
		parts = append(parts, frame[from:cut], prefixes[p:], rec)
		size += cut - from + len(prefixes) - p + len(rec)
		from = at + markerLen
	}
	parts = append(parts, frame[from:])
	size += len(frame) - from
	binary.BigEndian.PutUint32(frame, uint32(size-4))
	return frame, parts
}

// refetchFrame gives up on cutting frame and encodes resp whole.
func (c *conn) refetchFrame(h header, resp *kmsg.FetchResponse, flexibleHeader bool, frame []byte) ([]byte, [][]byte) {
	c.s.bufs.Put(frame)
	return c.frame(h, resp, flexibleHeader), nil
}

// eachRecords calls f with every non-empty record set of resp, in the
// order they are encoded.
func (s *Server) eachRecords(resp *kmsg.FetchResponse, f func(*[]byte)) {
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			if rb := &resp.Topics[i].Partitions[j].RecordBatches; len(*rb) > 0 {
				f(rb)
			}
		}
	}
}
