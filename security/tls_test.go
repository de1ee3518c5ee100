package security

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kop-project/kop/internal/testcerts"
)

// handshake connects a client to a server with conf over loopback and
// returns what each side saw.
func handshake(t *testing.T, server *tls.Config, client *tls.Config) (tls.ConnectionState, tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		st  tls.ConnectionState
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		srv := tls.Server(nc, server)
		err = srv.Handshake()
		done <- result{srv.ConnectionState(), err}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	cl := tls.Client(nc, client)
	cerr := cl.Handshake()
	r := <-done
	if cerr != nil {
		return tls.ConnectionState{}, tls.ConnectionState{}, cerr
	}
	if r.err != nil {
		return tls.ConnectionState{}, tls.ConnectionState{}, r.err
	}
	return r.st, cl.ConnectionState(), nil
}

func TestServerTLSReloadAndClientCertificates(t *testing.T) {
	ca := testcerts.NewCA(t)
	dir := t.TempDir()
	ks := testcerts.Write(t, dir, "broker.pem", ca.Server(t, "broker-1"))
	ts := testcerts.Write(t, dir, "ca.pem", ca.PEM)
	now := time.Unix(1000, 0)
	r, err := newTLSReloader(TLSConfig{KeystoreLocation: ks, TruststoreLocation: ts, ClientAuth: "required"}, slog.New(slog.DiscardHandler), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	server := r.serverConfig()
	roots := ca.Pool()
	clientPEM := ca.Client(t, pkix.Name{CommonName: "app", OrganizationalUnit: []string{"payments"}})
	clientCert, err := tls.X509KeyPair(clientPEM, clientPEM)
	if err != nil {
		t.Fatal(err)
	}
	client := &tls.Config{RootCAs: roots, ServerName: "localhost", Certificates: []tls.Certificate{clientCert}}

	st, cst, err := handshake(t, server, client)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := CertificatePrincipal(st); !ok || p.String() != "User:CN=app,OU=payments" {
		t.Fatalf("principal = %+v %v", p, ok)
	}
	if cn := cst.PeerCertificates[0].Subject.CommonName; cn != "broker-1" {
		t.Fatalf("server certificate %q", cn)
	}
	// Required client certificates: a client without one is refused.
	if _, _, err := handshake(t, server, &tls.Config{RootCAs: roots, ServerName: "localhost"}); err == nil {
		t.Fatal("a client without a certificate was accepted")
	}

	// A renewed certificate is served once the throttle allows a check.
	os.WriteFile(ks, ca.Server(t, "broker-1-renewed"), 0o600)
	future := time.Now().Add(time.Minute)
	os.Chtimes(ks, future, future)
	if _, cst, _ := handshake(t, server, client); cst.PeerCertificates[0].Subject.CommonName != "broker-1" {
		t.Fatal("reloaded before the throttle allowed")
	}
	now = now.Add(2 * time.Second)
	if _, cst, err := handshake(t, server, client); err != nil || cst.PeerCertificates[0].Subject.CommonName != "broker-1-renewed" {
		t.Fatalf("after the renewal: %v", err)
	}
	// A broken file keeps the working certificate.
	os.WriteFile(ks, []byte("not pem"), 0o600)
	later := future.Add(time.Minute)
	os.Chtimes(ks, later, later)
	now = now.Add(2 * time.Second)
	if _, cst, err := handshake(t, server, client); err != nil || cst.PeerCertificates[0].Subject.CommonName != "broker-1-renewed" {
		t.Fatalf("after a broken file: %v", err)
	}
}

func TestServerTLSRefusesBadSettings(t *testing.T) {
	ca := testcerts.NewCA(t)
	dir := t.TempDir()
	ks := testcerts.Write(t, dir, "broker.pem", ca.Server(t, "b"))
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("nothing"), 0o600)
	for name, cfg := range map[string]TLSConfig{
		"no keystore":       {KeystoreLocation: filepath.Join(dir, "none.pem")},
		"garbage keystore":  {KeystoreLocation: garbage},
		"garbage trust":     {KeystoreLocation: ks, TruststoreLocation: garbage},
		"required no trust": {KeystoreLocation: ks, ClientAuth: "required"},
		"bad client auth":   {KeystoreLocation: ks, ClientAuth: "always"},
	} {
		if _, err := ServerTLS(cfg, slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzTLSHandshake: whatever a client sends to a TLS listener configured
// by ServerTLS (client certificates requested), the handshake ends — with
// an error for anything but a real client — without a panic, and never
// names a principal for bytes that did not present a verified
// certificate.
func FuzzTLSHandshake(f *testing.F) {
	ca := testcerts.NewCA(f)
	dir := f.TempDir()
	server, err := ServerTLS(TLSConfig{
		KeystoreLocation:   testcerts.Write(f, dir, "server.pem", ca.Server(f, "kop")),
		TruststoreLocation: testcerts.Write(f, dir, "ca.pem", ca.PEM),
		ClientAuth:         "requested",
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	// A real ClientHello, and a plaintext Kafka request, as seeds.
	hello := captureClientHello(f)
	f.Add(hello)
	f.Add([]byte{0, 0, 0, 20, 0, 18, 0, 3, 0, 0, 0, 1, 0, 4, 'k', 'c', 'a', 't'})
	f.Add([]byte{22, 3, 1, 0, 5, 1, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		if st, err := serverHandshake(server, in); err == nil {
			if _, ok := CertificatePrincipal(st); ok {
				t.Fatalf("a principal from %d fuzzed bytes", len(in))
			}
		}
	})
}

// serverHandshake runs a server handshake against a client that sends in
// and hangs up.
func serverHandshake(server *tls.Config, in []byte) (tls.ConnectionState, error) {
	client, srvSide := net.Pipe()
	defer client.Close()
	srvSide.SetDeadline(time.Now().Add(2 * time.Second))
	go io.Copy(io.Discard, client) // what the server answers
	go func() {
		client.Write(in)
		client.Close() // then EOF: the handshake cannot wait for more
	}()
	srv := tls.Server(srvSide, server)
	err := srv.Handshake()
	srvSide.Close()
	return srv.ConnectionState(), err
}

// captureClientHello is the first flight a Go TLS client sends.
func captureClientHello(tb testing.TB) []byte {
	c, s := net.Pipe()
	go tls.Client(c, &tls.Config{ServerName: "127.0.0.1", InsecureSkipVerify: true}).Handshake()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := s.Read(buf)
	if err != nil {
		tb.Fatal(err)
	}
	c.Close()
	s.Close()
	return buf[:n]
}

// FuzzSubjectName: any subject bytes in a certificate give a name (the
// RFC 2253 form or, when they do not parse, Go's), never a panic.
func FuzzSubjectName(f *testing.F) {
	ca := testcerts.NewCA(f)
	pemBytes := ca.Client(f, pkix.Name{CommonName: "app", OrganizationalUnit: []string{"payments"}})
	cert, err := tls.X509KeyPair(pemBytes, pemBytes)
	if err != nil {
		f.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		f.Fatal(err)
	}
	if got := subjectName(leaf); got != "CN=app,OU=payments" {
		f.Fatalf("subjectName = %q", got)
	}
	f.Add(leaf.RawSubject)
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := *leaf
		c.RawSubject = raw
		_ = subjectName(&c)
	})
}
