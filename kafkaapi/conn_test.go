package kafkaapi

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// serve runs s on a loopback listener and returns a connection to it.
func serve(t *testing.T, s *Server) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln, Listener{Name: "PLAINTEXT"})
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	return conn
}

func writeRequest(t *testing.T, conn net.Conn, req kmsg.Request, corr int32) {
	t.Helper()
	if _, err := conn.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("test")).AppendRequest(nil, req, corr)); err != nil {
		t.Fatal(err)
	}
}

// readResponse reads one response frame and decodes it into resp (a
// response with a non-flexible header).
func readResponse(conn net.Conn, corr int32, resp kmsg.Response) error {
	var size [4]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return err
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		return err
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != corr {
		return errors.New("response out of order")
	}
	return resp.ReadFrom(body[4:])
}

// TestFinishPanicCloses: a pipelined handler whose deferred completion
// panics closes the connection, as a panicking handler does, instead of
// leaving the client waiting for an answer.
func TestFinishPanicCloses(t *testing.T) {
	s := NewServer(Config{}, Deps{}, slog.Default())
	s.apis[kmsg.Produce.Int16()] = &api{key: kmsg.Produce.Int16(), min: 0, max: 9, pipelined: true,
		handle: func(ctx context.Context, r *request, req kmsg.Request) (kmsg.Response, error) {
			r.finish = func() { panic("finishing went wrong") }
			return req.ResponseKind(), nil
		}}
	conn := serve(t, s)
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(7)
	req.Acks, req.TimeoutMillis = 1, 1000
	writeRequest(t, conn, req, 1)
	err := readResponse(conn, 1, req.ResponseKind())
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("read after a panicking finish: %v; want the connection closed", err)
	}
}
