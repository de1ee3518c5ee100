package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kop-project/kop/internal/pulsartest"
)

// TestPulsarTokenAuth: against a Pulsar that requires token
// authentication (and authorization), KOP authenticates with
// brokerClientAuthenticationPlugin/-Parameters as Pulsar's own brokers do
// and serves Kafka clients; without a token, or with a forged one, it
// refuses to start and says it could not reach Pulsar's admin API.
func TestPulsarTokenAuth(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	token := func(sub string, key []byte) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	admin := token("admin", secret)
	p, err := pulsartest.StartWith(pulsartest.Options{
		ExtraConf: []string{
			"authenticationEnabled=true",
			"authenticationProviders=org.apache.pulsar.broker.authentication.AuthenticationProviderToken",
			"tokenSecretKey=data:;base64," + base64.StdEncoding.EncodeToString(secret),
			"authorizationEnabled=true",
			"superUserRoles=admin,kop",
			"brokerClientAuthenticationPlugin=org.apache.pulsar.client.impl.auth.AuthenticationToken",
			"brokerClientAuthenticationParameters=token:" + admin,
		},
		AdminToken: admin,
	})
	if err != nil {
		t.Fatalf("starting a Pulsar with token authentication: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(); err != nil {
			t.Errorf("stopping Pulsar: %v", err)
		}
	})
	onPulsar := map[string]string{"brokerServiceUrl": p.ServiceURL, "webServiceUrl": p.WebURL, "kafkaTenant": "public", "kafkaNamespace": "default"}

	// Refused without a token and with a forged one.
	for name, extra := range map[string]map[string]string{
		"no token":     {},
		"forged token": {"brokerClientAuthenticationPlugin": "token", "brokerClientAuthenticationParameters": "token:" + token("kop", make([]byte, 32))},
	} {
		kv := map[string]string{}
		for k, v := range onPulsar {
			kv[k] = v
		}
		for k, v := range extra {
			kv[k] = v
		}
		b := newBroker(t, "standalone", freePort(t), freePort(t), freePort(t), kv)
		b.binary = kopBinary
		b.launch()
		select {
		case <-b.exited:
		case <-time.After(90 * time.Second):
			t.Fatalf("%s: kop still running after 90s against a Pulsar that refuses it", name)
		}
		b.cmd = nil
		out, _ := os.ReadFile(b.logPath)
		if !strings.Contains(string(out), "connect to Pulsar") {
			t.Fatalf("%s: kop exited without saying it could not connect to Pulsar:\n%s", name, out)
		}
		if strings.Contains(string(out), secretOf(extra)) && secretOf(extra) != "" {
			t.Fatalf("%s: the log shows the token", name)
		}
	}

	kv := map[string]string{
		"brokerClientAuthenticationPlugin":     "org.apache.pulsar.client.impl.auth.AuthenticationToken",
		"brokerClientAuthenticationParameters": "token:" + token("kop", secret),
	}
	for k, v := range onPulsar {
		kv[k] = v
	}
	b := startStandalone(t, kv)
	ctx := testCtx(t, 2*time.Minute)
	if _, err := newAdmin(t, b.addr).CreateTopic(ctx, 2, 1, nil, "authed"); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.addr, kgo.RecordDeliveryTimeout(45*time.Second), kgo.ConsumeTopics("authed"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	produceN(t, cl, "authed", 100)
	got := 0
	for got < 100 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consuming through an authenticated Pulsar after %d records: %v", got, err)
		}
		got += fs.NumRecords()
	}
	if out, _ := os.ReadFile(b.logPath); strings.Contains(string(out), token("kop", secret)) {
		t.Fatal("the broker's log shows its Pulsar token")
	}
	t.Run("tenants", func(t *testing.T) {
		testTenants(t, p, secret, func(sub string) string { return token(sub, secret) })
	})
}

// secretOf is the token in a config's authentication parameters.
func secretOf(kv map[string]string) string {
	return strings.TrimPrefix(kv["brokerClientAuthenticationParameters"], "token:")
}
