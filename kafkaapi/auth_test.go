package kafkaapi

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/security"
)

// TestFailedAuthClosesEvenWithFramesQueued: a client that fails SASL
// authentication and has already sent more than the read-ahead bound is
// answered SASL_AUTHENTICATION_FAILED and disconnected, and Shutdown
// returns; the connection must not be left with its reader waiting for
// read-ahead room no worker will make.
func TestFailedAuthClosesEvenWithFramesQueued(t *testing.T) {
	auth, err := security.NewAuthenticator(security.Config{Mechanisms: []string{security.Plain}, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Config{FailedAuthenticationDelay: 200 * time.Millisecond}, Deps{Auth: auth}, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln, Listener{Name: "SASL_PLAINTEXT", SASL: true})
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))

	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, security.Plain
	writeRequest(t, conn, hs, 1)
	if err := readResponse(conn, 1, hs.ResponseKind()); err != nil {
		t.Fatal(err)
	}
	sa := kmsg.NewPtrSASLAuthenticateRequest()
	sa.Version, sa.SASLAuthBytes = 1, []byte("\x00nobody\x00wrong")
	writeRequest(t, conn, sa, 2)
	// Three 500 KiB frames behind it: over the 1 MiB read-ahead.
	big := make([]byte, 4+500<<10)
	binary.BigEndian.PutUint32(big, 500<<10)
	for range 3 {
		conn.Write(big)
	}
	resp := sa.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if err := readResponse(conn, 2, resp); err != nil || resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("SaslAuthenticate: %+v, %v; want SASL_AUTHENTICATION_FAILED", resp, err)
	}
	var b [1]byte
	if _, err := conn.Read(b[:]); err == nil {
		t.Fatal("the connection stayed open after a failed authentication")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown after a failed authentication: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Shutdown waited for its deadline: a connection was left behind")
	}
}
