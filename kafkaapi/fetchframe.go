package kafkaapi

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/storage"
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

// outPart is a piece of a response on its way out: bytes, or n bytes of
// file from pos (a record region, sent with sendfile).
type outPart struct {
	b    []byte
	file *os.File
	pos  int64
	n    int
}

// recordSource is one partition's records: bytes, or a file region.
type recordSource struct {
	rb  *[]byte
	b   []byte
	reg *storage.Region
}

func (rs recordSource) len() int {
	if rs.reg != nil {
		return rs.reg.Len
	}
	return len(rs.b)
}

func (rs recordSource) part() outPart {
	if rs.reg != nil {
		return outPart{file: rs.reg.File, pos: rs.reg.Pos, n: rs.reg.Len}
	}
	return outPart{b: rs.b}
}

// fetchFrame encodes resp as c.frame does and returns the frame and, when
// the response carries records (in RecordBatches, or in regions for the
// partitions it names), the parts to write instead of it: slices of frame,
// the record buffers, and the regions, which must stay untouched until
// they are written.
func (c *conn) fetchFrame(h header, resp *kmsg.FetchResponse, flexibleHeader bool, regions map[*kmsg.FetchResponseTopicPartition]*storage.Region) (frame []byte, parts []outPart) {
	var sources []recordSource
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			sp := &resp.Topics[i].Partitions[j]
			if reg := regions[sp]; reg != nil && reg.Len > 0 {
				sources = append(sources, recordSource{rb: &sp.RecordBatches, b: sp.RecordBatches, reg: reg})
			} else if len(sp.RecordBatches) > 0 {
				sources = append(sources, recordSource{rb: &sp.RecordBatches, b: sp.RecordBatches})
			}
		}
	}
	if len(sources) == 0 {
		return c.frame(h, resp, flexibleHeader), nil
	}
	markers := make([]byte, markerLen*len(sources))
	for k, src := range sources {
		m := markers[k*markerLen : (k+1)*markerLen]
		copy(m, c.s.fetchSecret[:])
		binary.BigEndian.PutUint64(m[8:], uint64(k))
		*src.rb = m
	}
	frame = c.frame(h, resp, flexibleHeader)
	for _, src := range sources {
		*src.rb = src.b
	}
	whole := func() ([]byte, []outPart) {
		c.s.bufs.Put(frame)
		for _, src := range sources {
			if src.reg != nil {
				// Read the region after all; a failed read sends the
				// partition without records (the client fetches again).
				buf := make([]byte, src.reg.Len)
				if _, err := src.reg.File.ReadAt(buf, src.reg.Pos); err != nil {
					buf = []byte{}
				}
				*src.rb = buf
			}
		}
		return c.frame(h, resp, flexibleHeader), nil
	}
	// Each marker once, and nothing else that looks like one.
	if bytes.Count(frame, c.s.fetchSecret[:]) != len(sources) {
		return whole()
	}
	flexible := resp.IsFlexible()
	prefixes := make([]byte, 0, binary.MaxVarintLen32*len(sources))
	parts = make([]outPart, 0, 3*len(sources)+1)
	from, size := 0, 0
	for k, src := range sources {
		m := markers[k*markerLen : (k+1)*markerLen]
		at := bytes.Index(frame[from:], m)
		if at < 0 {
			return whole()
		}
		at += from
		// The marker's length prefix: int32 16, or uvarint 17 (compact
		// nullable bytes: length + 1).
		var cut int
		if flexible {
			cut = at - 1
			if cut < from || frame[cut] != markerLen+1 {
				return whole()
			}
		} else {
			cut = at - 4
			if cut < from || binary.BigEndian.Uint32(frame[cut:at]) != markerLen {
				return whole()
			}
		}
		p := len(prefixes)
		if flexible {
			prefixes = binary.AppendUvarint(prefixes, uint64(src.len())+1)
		} else {
			prefixes = binary.BigEndian.AppendUint32(prefixes, uint32(src.len()))
		}
		parts = append(parts, outPart{b: frame[from:cut]}, outPart{b: prefixes[p:]}, src.part())
		size += cut - from + len(prefixes) - p + src.len()
		from = at + markerLen
	}
	parts = append(parts, outPart{b: frame[from:]})
	size += len(frame) - from
	binary.BigEndian.PutUint32(frame, uint32(size-4))
	return frame, parts
}

// sendFile writes n bytes of f from pos to nc with sendfile(2), waiting
// for the socket to take them (and honouring its write deadline).
func sendFile(nc net.Conn, f *os.File, pos int64, n int) error {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return fmt.Errorf("sendfile on a %T", nc)
	}
	out, err := tc.SyscallConn()
	if err != nil {
		return err
	}
	in, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr, writeErr error
	ctlErr := in.Control(func(infd uintptr) {
		writeErr = out.Write(func(outfd uintptr) bool {
			for n > 0 {
				w, err := syscall.Sendfile(int(outfd), int(infd), &pos, n)
				if w > 0 {
					n -= w
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until the socket is writable
				case err == syscall.EINTR:
				case err != nil:
					sendErr = fmt.Errorf("sendfile: %w", err)
					return true
				case w == 0:
					sendErr = fmt.Errorf("sendfile: %w: %d bytes short", io.ErrUnexpectedEOF, n)
					return true
				}
			}
			return true
		})
	})
	if ctlErr != nil {
		return ctlErr
	}
	if writeErr != nil {
		return writeErr
	}
	return sendErr
}
