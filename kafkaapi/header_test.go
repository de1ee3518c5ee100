package kafkaapi

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestParseHeader(t *testing.T) {
	b := []byte{0, 3, 0, 9, 0, 0, 0, 42, 0, 2, 'i', 'd', 0, 0xAA}
	h, rest, err := parseHeader(b)
	if err != nil || h.key != 3 || h.version != 9 || h.correlationID != 42 || *h.clientID != "id" {
		t.Fatalf("%+v %v", h, err)
	}
	rest, err = skipTags(rest)
	if err != nil || !bytes.Equal(rest, []byte{0xAA}) {
		t.Fatalf("rest %x %v", rest, err)
	}
	null := []byte{0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff}
	if h, _, err := parseHeader(null); err != nil || h.clientID != nil {
		t.Fatalf("null client id: %+v %v", h, err)
	}
	for _, bad := range [][]byte{nil, {0, 1, 0}, {0, 3, 0, 9, 0, 0, 0, 42, 0, 9, 'x'}, {0, 3, 0, 9, 0, 0, 0, 42, 0xff, 0xf0}} {
		if _, _, err := parseHeader(bad); err == nil {
			t.Fatalf("%x accepted", bad)
		}
	}
	if _, err := skipTags([]byte{1, 0, 5, 1}); err == nil {
		t.Fatal("tag overrunning the request accepted")
	}
}

func TestReadN(t *testing.T) {
	data := bytes.Repeat([]byte{7}, 3<<20+5)
	got, err := readN(bytes.NewReader(data), len(data), nil)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("readN: %v", err)
	}
	// A peer announcing more than it sends costs only what it sent: the
	// buffer offered to each read is at most what arrived before it (or
	// the first few KiB).
	for _, sent := range []int{10, 5000, 1 << 20} {
		r := &offerRecorder{r: io.LimitReader(bytes.NewReader(data), int64(sent))}
		if _, err := readN(r, 100<<20, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%d of 100 MiB sent: %v, want ErrUnexpectedEOF", sent, err)
		}
		if limit := max(minBodyBuffer, 4*sent); r.allocated > limit {
			t.Fatalf("%d bytes sent of a 100 MiB frame: a buffer of %d bytes, want at most %d", sent, r.allocated, limit)
		}
	}
}

// offerRecorder works out the largest buffer readN read into: the bytes
// read so far plus the free space it offers (p runs to the buffer's end).
type offerRecorder struct {
	r               io.Reader
	read, allocated int
}

func (o *offerRecorder) Read(p []byte) (int, error) {
	o.allocated = max(o.allocated, o.read+cap(p))
	n, err := o.r.Read(p)
	o.read += n
	return n, err
}

// seedFrame is req at version v as a frame body: request header
// (correlation id 1, client id "c") and the request.
func seedFrame(req kmsg.Request, v int16) []byte {
	req.SetVersion(v)
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(v))
	b = append(b, 0, 0, 0, 1, 0, 1, 'c')
	if req.IsFlexible() {
		b = append(b, 0) // the flexible header's empty tag buffer
	}
	return req.AppendTo(b)
}

// FuzzRequest decodes arbitrary frames the way a connection does: header,
// tagged fields, then the kmsg body for the key and version. Nothing may
// panic.
func FuzzRequest(f *testing.F) {
	for _, req := range []kmsg.Request{kmsg.NewPtrMetadataRequest(), kmsg.NewPtrProduceRequest(), kmsg.NewPtrFetchRequest(), kmsg.NewPtrApiVersionsRequest(),
		kmsg.NewPtrJoinGroupRequest(), kmsg.NewPtrSyncGroupRequest(), kmsg.NewPtrOffsetCommitRequest(), kmsg.NewPtrOffsetFetchRequest()} {
		for _, v := range []int16{0, 3, 9, 12} {
			if v > req.MaxVersion() {
				continue
			}
			f.Add(seedFrame(req, v))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, rest, err := parseHeader(b)
		if err != nil {
			return
		}
		req := kmsg.RequestForKey(h.key)
		if req == nil || h.version < 0 || h.version > req.MaxVersion() {
			return
		}
		req.SetVersion(h.version)
		if req.IsFlexible() {
			if rest, err = skipTags(rest); err != nil {
				return
			}
		}
		_ = req.ReadFrom(rest)
	})
}

// BenchmarkReadN reads 1 MiB request bodies through the connection's
// 64 KiB bufio.Reader, as readLoop does.
func BenchmarkReadN(b *testing.B) {
	body := bytes.Repeat([]byte{7}, 1<<20)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for range b.N {
		br := bufio.NewReaderSize(bytes.NewReader(body), 64<<10)
		if _, err := readN(br, len(body), nil); err != nil {
			b.Fatal(err)
		}
	}
}
