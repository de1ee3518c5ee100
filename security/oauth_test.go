package security

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// OAuthKeys is a signing key and the JWKS file publishing it.
func oauthKeys(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}}
	b, _ := json.Marshal(set)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, path
}

func signRS256(t *testing.T, key *rsa.PrivateKey, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestOAuthBearer: a franz-go OAUTHBEARER client authenticates with a
// JWT signed by a key of the JWKS file; expired, foreign, wrongly
// addressed or malformed tokens are refused, saying why.
func TestOAuthBearer(t *testing.T) {
	key, jwks := oauthKeys(t)
	now := time.Unix(1_800_000_000, 0)
	v, err := NewOAuthVerifier(OAuthConfig{JWKSFile: jwks, Issuer: "https://idp", Audience: "kop", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAuthenticator(Config{Mechanisms: []string{OAuthBearer}, OAuth: v, Rand: rand.Reader})
	if err != nil {
		t.Fatal(err)
	}
	good := signRS256(t, key, "k1", jwt.MapClaims{"sub": "svc-a", "iss": "https://idp", "aud": "kop", "exp": now.Add(time.Hour).Unix()})
	p, err := runClient(t, a, oauth.Auth{Token: good}.AsMechanism())
	if err != nil || p.Name != "svc-a" || p.Mechanism != OAuthBearer || p.ExpiresMs != now.Add(time.Hour).UnixMilli() {
		t.Fatalf("good token: %+v, %v", p, err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	for name, tc := range map[string]struct{ token, want string }{
		"expired":     {signRS256(t, key, "k1", jwt.MapClaims{"sub": "s", "iss": "https://idp", "aud": "kop", "exp": now.Add(-time.Minute).Unix()}), "expired"},
		"no expiry":   {signRS256(t, key, "k1", jwt.MapClaims{"sub": "s", "iss": "https://idp", "aud": "kop"}), "no expiry"},
		"foreign key": {signRS256(t, other, "k1", jwt.MapClaims{"sub": "s", "iss": "https://idp", "aud": "kop", "exp": now.Add(time.Hour).Unix()}), "signature"},
		"unknown kid": {signRS256(t, key, "k9", jwt.MapClaims{"sub": "s", "iss": "https://idp", "aud": "kop", "exp": now.Add(time.Hour).Unix()}), "signature"},
		"issuer":      {signRS256(t, key, "k1", jwt.MapClaims{"sub": "s", "iss": "https://evil", "aud": "kop", "exp": now.Add(time.Hour).Unix()}), "issuer"},
		"audience":    {signRS256(t, key, "k1", jwt.MapClaims{"sub": "s", "iss": "https://idp", "aud": "other", "exp": now.Add(time.Hour).Unix()}), "audience"},
		"garbage":     {"not-a-jwt", "not a valid token"},
	} {
		if _, err := runClient(t, a, oauth.Auth{Token: tc.token}.AsMechanism()); !errors.Is(err, ErrAuthenticationFailed) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	for _, msg := range []string{"", "n,,", "n,,\x01auth=Basic x\x01\x01", "n,,\x01host=x\x01\x01", "p=x,,\x01auth=Bearer " + good + "\x01\x01", "n,a=someone-else,\x01auth=Bearer " + good + "\x01\x01"} {
		x, _ := a.Start(OAuthBearer)
		if _, p, err := x.Step([]byte(msg)); err == nil || p != nil {
			t.Errorf("message %q: %+v, %v", msg, p, err)
		}
	}
	if _, err := NewAuthenticator(Config{Mechanisms: []string{OAuthBearer}, Rand: rand.Reader}); err == nil {
		t.Error("OAUTHBEARER without a key set accepted")
	}
	if _, err := NewOAuthVerifier(OAuthConfig{JWKSFile: filepath.Join(t.TempDir(), "none.json")}); err == nil {
		t.Error("a missing JWKS file accepted")
	}
}
