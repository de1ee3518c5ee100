package e2e

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kop-project/kop/internal/testcerts"
)

// secureBroker is a standalone broker with one listener of each security
// protocol; PLAINTEXT (b.addr) is the administrator's.
type secureBroker struct {
	*broker
	ssl, saslSSL, saslPlain string // host:port of each listener
	ca                      *testcerts.CA
	caFile                  string
	clientPEM               string // a client certificate and key, PEM
}

func startSecure(t *testing.T, extra map[string]string) *secureBroker {
	t.Helper()
	ca := testcerts.NewCA(t)
	dir := t.TempDir()
	sb := &secureBroker{ca: ca, caFile: testcerts.Write(t, dir, "ca.pem", ca.PEM)}
	sb.clientPEM = testcerts.Write(t, dir, "client.pem", ca.Client(t, pkix.Name{CommonName: "app", OrganizationalUnit: []string{"payments"}}))
	kport, rport, hport := freePort(t), freePort(t), freePort(t)
	sb.ssl = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	sb.saslSSL = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	sb.saslPlain = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	kv := map[string]string{
		"kafkaListeners":           fmt.Sprintf("PLAINTEXT://127.0.0.1:%d,SSL://%s,SASL_SSL://%s,SASL_PLAINTEXT://%s", kport, sb.ssl, sb.saslSSL, sb.saslPlain),
		"kopSslKeystoreLocation":   testcerts.Write(t, dir, "broker.pem", ca.Server(t, "kop")),
		"kopSslTruststoreLocation": sb.caFile,
		"kopSslClientAuth":         "requested",
	}
	for k, v := range extra {
		kv[k] = v
	}
	sb.broker = newBroker(t, "standalone", kport, rport, hport, kv)
	sb.start()
	return sb
}

func (sb *secureBroker) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: sb.ca.Pool(), ServerName: "127.0.0.1"}
}

// addScramUser gives user a password for both SCRAM mechanisms through
// the PLAINTEXT listener.
func addScramUser(t *testing.T, b *broker, user, password string) {
	t.Helper()
	ctx := testCtx(t, time.Minute)
	res, err := newAdmin(t, b.addr).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: user, Mechanism: kadm.ScramSha256, Iterations: 8192, Password: password},
		{User: user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: password},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Error(); err != nil {
		t.Fatalf("AlterUserSCRAMs: %v", err)
	}
}

// TestSecurityTLSAndSASL: clients authenticate with SCRAM-SHA-256/512 and
// PLAIN over SASL_SSL and SASL_PLAINTEXT, with a client certificate over
// SSL; credentials are stored salted through AlterUserScramCredentials and
// described without secrets; a wrong password, an unknown user, a
// plaintext client on a TLS port and a request before authentication are
// refused, and nothing they sent is written.
func TestSecurityTLSAndSASL(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	sb := startSecure(t, nil)
	addScramUser(t, sb.broker, "alice", "alice-secret")
	ctx := testCtx(t, 3*time.Minute)
	adm := newAdmin(t, sb.addr)
	desc, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := desc["alice"]
	if d.Err != nil || len(d.CredInfos) != 2 || d.CredInfos[0].Mechanism != kadm.ScramSha256 || d.CredInfos[0].Iterations != 8192 || d.CredInfos[1].Iterations != 4096 {
		t.Fatalf("DescribeUserSCRAMs = %+v", desc)
	}
	if nd, err := adm.DescribeUserSCRAMs(ctx, "nobody"); err != nil || !errors.Is(nd["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("describing a user without credentials: %+v, %v; want RESOURCE_NOT_FOUND", nd, err)
	}
	// Iterations below 4096 are refused (kadm checks that itself, so the
	// request is made by hand).
	weak := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	up := kmsg.NewAlterUserSCRAMCredentialsRequestUpsertion()
	up.Name, up.Mechanism, up.Iterations, up.Salt, up.SaltedPassword = "weak", 1, 1000, []byte("salt"), make([]byte, 32)
	weak.Upsertions = append(weak.Upsertions, up)
	wr, err := weak.RequestWith(ctx, newClient(t, sb.addr))
	if err != nil || len(wr.Results) != 1 || wr.Results[0].ErrorCode != kerr.UnacceptableCredential.Code {
		t.Fatalf("1000 iterations: %+v, %v; want UNACCEPTABLE_CREDENTIAL", wr, err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "secure"); err != nil {
		t.Fatal(err)
	}

	produceConsume := func(name, addr string, opts ...kgo.Opt) {
		t.Helper()
		cl := newClient(t, addr, append(opts, kgo.RecordDeliveryTimeout(30*time.Second), kgo.ConsumeTopics("secure"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))...)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: []byte(name)}).FirstErr(); err != nil {
			t.Fatalf("%s: produce: %v", name, err)
		}
		for {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("%s: fetch: %v", name, err)
			}
			found := false
			fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Value) == name })
			if found {
				return
			}
		}
	}
	produceConsume("scram-256-sasl-ssl", sb.saslSSL, kgo.DialTLSConfig(sb.tlsConfig()),
		kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha256Mechanism()))
	produceConsume("scram-512-sasl-plaintext", sb.saslPlain, kgo.SASL(scram.Auth{User: "alice", Pass: "alice-secret"}.AsSha512Mechanism()))
	produceConsume("plain-sasl-ssl", sb.saslSSL, kgo.DialTLSConfig(sb.tlsConfig()), kgo.SASL(plain.Auth{User: "alice", Pass: "alice-secret"}.AsMechanism()))
	clientCert, err := tls.LoadX509KeyPair(sb.clientPEM, sb.clientPEM)
	if err != nil {
		t.Fatal(err)
	}
	mtls := sb.tlsConfig()
	mtls.Certificates = []tls.Certificate{clientCert}
	produceConsume("ssl-client-certificate", sb.ssl, kgo.DialTLSConfig(mtls))
	produceConsume("ssl-no-certificate", sb.ssl, kgo.DialTLSConfig(sb.tlsConfig()))

	before := endOffset(t, adm, "secure")
	for name, mech := range map[string]kgo.Opt{
		"wrong password scram": kgo.SASL(scram.Auth{User: "alice", Pass: "guess"}.AsSha256Mechanism()),
		"unknown user scram":   kgo.SASL(scram.Auth{User: "mallory", Pass: "alice-secret"}.AsSha512Mechanism()),
		"wrong password plain": kgo.SASL(plain.Auth{User: "alice", Pass: "guess"}.AsMechanism()),
	} {
		cl := newClient(t, sb.saslSSL, kgo.DialTLSConfig(sb.tlsConfig()), mech, kgo.RecordDeliveryTimeout(10*time.Second), kgo.RecordRetries(1))
		err := cl.ProduceSync(ctx, &kgo.Record{Topic: "secure", Value: []byte("intruder")}).FirstErr()
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("%s: produce error %v, want SASL_AUTHENTICATION_FAILED", name, err)
		}
		if strings.Contains(err.Error(), "guess") || strings.Contains(err.Error(), "alice-secret") {
			t.Fatalf("%s: the error shows a password: %v", name, err)
		}
	}
	// A plaintext client on a TLS port gets no answer.
	c := dialRaw(t, sb.ssl)
	c.write(frame(18, 0, 1, false, nil))
	c.expectClosed()
	// A request before authentication closes the connection.
	c = dialRaw(t, sb.saslPlain)
	c.write(frame(kmsg.Metadata.Int16(), 1, 1, false, kmsg.NewPtrMetadataRequest().AppendTo(nil)))
	c.expectClosed()
	// So does a large frame before authentication.
	c = dialRaw(t, sb.saslPlain)
	big := make([]byte, 4)
	binary.BigEndian.PutUint32(big, 1<<20)
	c.write(big)
	c.expectClosed()
	if after := endOffset(t, adm, "secure"); after != before {
		t.Fatalf("end offset moved from %d to %d: a refused client wrote", before, after)
	}
	if n, err := metric(t, sb.broker, "kop_kafka_authentication_failures_total"); err != nil || n < 4 {
		t.Fatalf("kop_kafka_authentication_failures_total = %d, %v; want at least 4", n, err)
	}
}

func endOffset(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	ends, err := adm.ListEndOffsets(testCtx(t, time.Minute), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("end offset of %s: %+v", topic, o)
	}
	return o.Offset
}

// TestSecurityOtherClients: kcat (librdkafka) with SCRAM-SHA-256 over
// SASL_SSL, confluent-kafka with PLAIN and SCRAM-SHA-512 over SASL_SSL
// (with Pulsar tokens: TestPulsarTokenAuth/tenants), kafka-python with
// SCRAM-SHA-512 over SASL_PLAINTEXT (SaslHandshake v0 and bare tokens).
func TestSecurityOtherClients(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	sb := startSecure(t, nil)
	addScramUser(t, sb.broker, "bob", "bob-secret")
	if _, err := newAdmin(t, sb.addr).CreateTopic(testCtx(t, time.Minute), 1, 1, nil, "kcat-secure"); err != nil {
		t.Fatal(err)
	}
	sasl := []string{"-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-256", "-X", "sasl.username=bob", "-X", "sasl.password=bob-secret", "-X", "ssl.ca.location=" + sb.caFile}
	kcat(t, []byte("one\ntwo\nthree\n"), append([]string{"-b", sb.saslSSL, "-P", "-t", "kcat-secure", "-X", "acks=all"}, sasl...)...)
	out := kcat(t, nil, append([]string{"-b", sb.saslSSL, "-C", "-t", "kcat-secure", "-o", "beginning", "-e", "-q"}, sasl...)...)
	if got := strings.Fields(string(out)); strings.Join(got, ",") != "one,two,three" {
		t.Fatalf("kcat read %q", out)
	}

	script := `
import sys
from confluent_kafka import Producer, Consumer
addr, ca = sys.argv[1], sys.argv[2]
conf = {"bootstrap.servers": addr, "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
        "sasl.username": "bob", "sasl.password": "bob-secret", "ssl.ca.location": ca}
p = Producer(dict(conf, acks="all"))
errs = []
p.produce("py-secure", b"hello", on_delivery=lambda err, msg: errs.append(err))
p.flush(30)
assert errs == [None], errs
# The consumer logs in with SCRAM-SHA-512 instead.
c = Consumer(dict(conf, **{"sasl.mechanism": "SCRAM-SHA-512", "group.id": "py-secure", "auto.offset.reset": "earliest"}))
c.subscribe(["py-secure"])
while True:
    m = c.poll(30)
    if m is None:
        raise SystemExit("no record")
    if m.error():
        continue
    print(m.value().decode())
    break
c.close()
bad = Producer({"bootstrap.servers": addr, "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
                "sasl.username": "bob", "sasl.password": "nope", "ssl.ca.location": ca, "message.timeout.ms": 5000})
errs = []
bad.produce("py-secure", b"intruder", on_delivery=lambda err, msg: errs.append(err))
bad.flush(30)
assert len(errs) == 1 and errs[0] is not None, errs
print("refused")
`
	if out := python(t, script, sb.saslSSL, sb.caFile); out != "hello\nrefused" {
		t.Fatalf("confluent-kafka said %q", out)
	}

	kafkaPython := `
import sys
from kafka import KafkaProducer, KafkaConsumer
addr = sys.argv[1]
conf = dict(bootstrap_servers=addr, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
            sasl_plain_username="bob", sasl_plain_password="bob-secret")
p = KafkaProducer(acks="all", **conf)
p.send("kp-secure", b"scram").get(30)
c = KafkaConsumer("kp-secure", auto_offset_reset="earliest", consumer_timeout_ms=20000, **conf)
for m in c:
    print(m.value.decode())
    break
`
	if out := python(t, kafkaPython, sb.saslPlain); out != "scram" {
		t.Fatalf("kafka-python said %q", out)
	}
}

// TestSecurityReauthAndBruteForce: with connectionsMaxReauthMs a client
// re-authenticates within its session and keeps working past it; 1,000
// failed logins from many connections are each refused with
// SASL_AUTHENTICATION_FAILED while an authenticated client goes on
// producing.
func TestSecurityReauthAndBruteForce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	sb := startSecure(t, map[string]string{"connectionsMaxReauthMs": "1500", "connectionFailedAuthenticationDelayMs": "10"})
	addScramUser(t, sb.broker, "carol", "carol-secret")
	ctx := testCtx(t, 3*time.Minute)
	if _, err := newAdmin(t, sb.addr).CreateTopic(ctx, 1, 1, nil, "reauth"); err != nil {
		t.Fatal(err)
	}
	good := newClient(t, sb.saslPlain, kgo.SASL(scram.Auth{User: "carol", Pass: "carol-secret"}.AsSha256Mechanism()), kgo.RecordDeliveryTimeout(30*time.Second))

	const attackers, each = 20, 50
	var refused, other atomic.Int64
	var wg sync.WaitGroup
	for i := range attackers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				user := "carol"
				if j%2 == 1 {
					user = fmt.Sprintf("nobody-%d-%d", i, j)
				}
				code, err := plainLogin(sb.saslPlain, user, "guess")
				switch {
				case err == nil && code == kerr.SaslAuthenticationFailed.Code:
					refused.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	// The authenticated client produces meanwhile, and past several
	// session lifetimes: it re-authenticates on the same connections.
	produced := 0
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) || produced < 10 {
		if err := good.ProduceSync(ctx, &kgo.Record{Topic: "reauth", Value: []byte("ok")}).FirstErr(); err != nil {
			t.Fatalf("authenticated producer, record %d: %v", produced, err)
		}
		produced++
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	if refused.Load() != attackers*each || other.Load() != 0 {
		t.Fatalf("failed logins: %d refused with SASL_AUTHENTICATION_FAILED, %d otherwise; want %d and 0", refused.Load(), other.Load(), attackers*each)
	}
	if n, err := metric(t, sb.broker, `kop_kafka_requests_total{api="SASLAuthenticate"}`); err != nil || n < attackers*each+3 {
		t.Fatalf("SaslAuthenticate requests = %d, %v; want the attackers' and the producer's re-authentications", n, err)
	}
}

// plainLogin tries SASL PLAIN once on a fresh connection and returns the
// SaslAuthenticate error code.
func plainLogin(addr, user, password string) (int16, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	roundTrip := func(req kmsg.Request, corr int32) (kmsg.Response, error) {
		if _, err := nc.Write(frame(req.Key(), req.GetVersion(), corr, req.IsFlexible(), req.AppendTo(nil))); err != nil {
			return nil, err
		}
		var size [4]byte
		if _, err := io.ReadFull(nc, size[:]); err != nil {
			return nil, err
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(nc, body); err != nil {
			return nil, err
		}
		resp := req.ResponseKind()
		return resp, resp.ReadFrom(body[4:])
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, "PLAIN"
	r, err := roundTrip(hs, 1)
	if err != nil {
		return 0, err
	}
	if code := r.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
		return 0, fmt.Errorf("SaslHandshake error %d", code)
	}
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.Version, auth.SASLAuthBytes = 1, []byte("\x00"+user+"\x00"+password)
	r, err = roundTrip(auth, 2)
	if err != nil {
		return 0, err
	}
	return r.(*kmsg.SASLAuthenticateResponse).ErrorCode, nil
}
