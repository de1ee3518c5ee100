package kafkaapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
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

// TestTenantLogin: a token login naming a tenant the tenancy check refuses
// fails saying why; one it accepts works in that namespace, and a
// re-authentication naming another tenant is refused as a change of
// principal (ILLEGAL_SASL_STATE), as Kafka refuses one.
func TestTenantLogin(t *testing.T) {
	secret := make([]byte, 32)
	rand.Read(secret)
	tokens, err := security.NewTokenVerifier(security.TokenConfig{SecretKey: base64.StdEncoding.EncodeToString(secret)})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := security.NewAuthenticator(security.Config{Mechanisms: []string{security.Plain}, Tokens: tokens, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	tenancy := &Tenancy{Default: "public/default", Namespace: "default", Check: func(_ context.Context, ns, role string) error {
		if ns == "nosuch/default" {
			return errors.New(`Pulsar tenant "nosuch" does not exist`)
		}
		return nil
	}}
	s := NewServer(Config{Tenancy: tenancy}, Deps{Auth: auth}, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln, Listener{Name: "SASL_PLAINTEXT", SASL: true})
	defer s.Shutdown(context.Background())
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "app"}).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	corr := int32(0)
	login := func(conn net.Conn, user string) *kmsg.SASLAuthenticateResponse {
		t.Helper()
		corr++
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, security.Plain
		writeRequest(t, conn, hs, corr)
		if err := readResponse(conn, corr, hs.ResponseKind()); err != nil {
			t.Fatal(err)
		}
		corr++
		sa := kmsg.NewPtrSASLAuthenticateRequest()
		sa.Version, sa.SASLAuthBytes = 1, []byte("\x00"+user+"\x00token:"+tok)
		writeRequest(t, conn, sa, corr)
		resp := sa.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		if err := readResponse(conn, corr, resp); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		return conn
	}
	c1 := dial()
	defer c1.Close()
	if resp := login(c1, "nosuch"); resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || resp.ErrorMessage == nil || !strings.Contains(*resp.ErrorMessage, `tenant "nosuch" does not exist`) {
		t.Fatalf("login to a tenant Pulsar does not have: %+v", resp)
	}
	c2 := dial()
	defer c2.Close()
	if resp := login(c2, "acme"); resp.ErrorCode != 0 {
		t.Fatalf("login as acme: %+v", resp)
	}
	if resp := login(c2, "acme/default"); resp.ErrorCode != 0 {
		t.Fatalf("re-authentication naming the same namespace: %+v", resp)
	}
	if resp := login(c2, "beta"); resp.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("re-authentication as another tenant: %+v, want ILLEGAL_SASL_STATE", resp)
	}
}
