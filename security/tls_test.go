package security

import (
	"crypto/tls"
	"crypto/x509/pkix"
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
