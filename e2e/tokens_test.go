package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/kop-project/kop/internal/testcerts"
)

// TestSecurityTokens: SASL PLAIN with a Pulsar token as password (KoP's
// convention: the user names the tenant, the password is token:<JWT>,
// checked with tokenSecretKey as Pulsar checks it), and OAUTHBEARER with a
// JWT of an identity provider's key set; an expired or forged token is
// refused with SASL_AUTHENTICATION_FAILED saying why, and the principals
// are the tokens' subjects (ACLs on them apply).
func TestSecurityTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	idp, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &idp.PublicKey, KeyID: "idp-1", Algorithm: "RS256", Use: "sig"}}})
	jwks := testcerts.Write(t, t.TempDir(), "jwks.json", set)
	sb := startSecure(t, map[string]string{
		"saslAllowedMechanisms":           "PLAIN,OAUTHBEARER",
		"tokenSecretKey":                  "data:;base64," + base64.StdEncoding.EncodeToString(secret),
		"saslOauthbearerJwksFile":         jwks,
		"saslOauthbearerExpectedAudience": "kop",
		"authorizationEnabled":            "true",
		"superUserRoles":                  "pulsar-admin-role,ANONYMOUS",
	})
	ctx := testCtx(t, 2*time.Minute)
	pulsarToken := func(sub string, exp time.Time, key []byte) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": sub, "exp": exp.Unix()}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	idpToken := func(sub string, exp time.Time) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"sub": sub, "aud": "kop", "exp": exp.Unix()})
		tok.Header["kid"] = "idp-1"
		s, err := tok.SignedString(idp)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := newAdmin(t, sb.addr).CreateTopic(ctx, 1, 1, nil, "tok"); err != nil {
		t.Fatal(err)
	}
	try := func(mech kgo.Opt) error {
		cl := newClient(t, sb.saslSSL, kgo.DialTLSConfig(sb.tlsConfig()), mech, kgo.RecordDeliveryTimeout(15*time.Second), kgo.RecordRetries(1))
		return cl.ProduceSync(ctx, &kgo.Record{Topic: "tok", Value: []byte("x")}).FirstErr()
	}
	// The super user's Pulsar token, PLAIN with the tenant as user name.
	if err := try(kgo.SASL(plain.Auth{User: "public/default", Pass: "token:" + pulsarToken("pulsar-admin-role", time.Now().Add(time.Hour), secret)}.AsMechanism())); err != nil {
		t.Fatalf("PLAIN with a valid Pulsar token of a super user: %v", err)
	}
	// A valid token of a role without ACLs authenticates but may not write.
	if err := try(kgo.SASL(plain.Auth{User: "public/default", Pass: pulsarToken("app-role", time.Now().Add(time.Hour), secret)}.AsMechanism())); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("PLAIN with a token of a role without ACLs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	for name, c := range map[string]struct {
		mech kgo.Opt
		why  string
	}{
		"expired Pulsar token": {kgo.SASL(plain.Auth{User: "public", Pass: "token:" + pulsarToken("pulsar-admin-role", time.Now().Add(-time.Minute), secret)}.AsMechanism()), "expired"},
		"forged Pulsar token":  {kgo.SASL(plain.Auth{User: "public", Pass: "token:" + pulsarToken("pulsar-admin-role", time.Now().Add(time.Hour), make([]byte, 32))}.AsMechanism()), "signature"},
		"expired OAuth token":  {kgo.SASL(oauth.Auth{Token: idpToken("svc", time.Now().Add(-time.Minute))}.AsMechanism()), "expired"},
	} {
		err := try(c.mech)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), c.why) {
			t.Fatalf("%s: %v, want SASL_AUTHENTICATION_FAILED saying %q", name, err, c.why)
		}
	}
	// OAUTHBEARER: the token's subject is the principal; with an ACL it writes.
	admin := newAdmin(t, sb.addr)
	if _, err := admin.CreateACLs(ctx, newWriteACL("User:svc", "tok")); err != nil {
		t.Fatal(err)
	}
	if err := try(kgo.SASL(oauth.Auth{Token: idpToken("svc", time.Now().Add(time.Hour))}.AsMechanism())); err != nil {
		t.Fatalf("OAUTHBEARER with an allowed subject: %v", err)
	}
}
