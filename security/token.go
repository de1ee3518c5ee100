package security

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenConfig holds Pulsar's token settings (broker.conf's names).
type TokenConfig struct {
	// SecretKey (tokenSecretKey) or PublicKey (tokenPublicKey), one of
	// them: "data:;base64,<key>", "file:///path" or the base64 key. A
	// secret key is the HMAC key itself; a public key is DER (as
	// `pulsar tokens create-key-pair` writes it) or PEM.
	SecretKey string
	PublicKey string
	// PublicAlg is the public key's algorithm (tokenPublicAlg, RS256).
	PublicAlg string
	// AuthClaim is the claim naming the role (tokenAuthClaim, "sub").
	AuthClaim string
	// AudienceClaim and Audience (tokenAudienceClaim, tokenAudience):
	// when AudienceClaim is set, a token's claim of that name must hold
	// Audience.
	AudienceClaim string
	Audience      string
	// Now is the clock (time.Now).
	Now func() time.Time
}

// TokenVerifier checks Pulsar tokens as Pulsar's
// AuthenticationProviderToken does.
type TokenVerifier struct {
	key     any
	methods []string
	cfg     TokenConfig
}

// TokenClaims is what KOP takes from a valid token.
type TokenClaims struct {
	Subject   string
	ExpiresMs int64 // 0: no expiry
}

// NewTokenVerifier loads the key; an error names the setting at fault.
func NewTokenVerifier(cfg TokenConfig) (*TokenVerifier, error) {
	if cfg.AuthClaim == "" {
		cfg.AuthClaim = "sub"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &TokenVerifier{cfg: cfg}
	switch {
	case cfg.SecretKey != "" && cfg.PublicKey != "":
		return nil, errors.New("tokenSecretKey and tokenPublicKey are both set; set one")
	case cfg.SecretKey != "":
		key, err := readKey(cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("tokenSecretKey: %w", err)
		}
		if len(key) < 32 {
			return nil, errors.New("tokenSecretKey: the key has fewer than 32 bytes")
		}
		v.key, v.methods = key, []string{"HS256", "HS384", "HS512"}
	case cfg.PublicKey != "":
		raw, err := readKey(cfg.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("tokenPublicKey: %w", err)
		}
		if b, _ := pem.Decode(raw); b != nil {
			raw = b.Bytes
		}
		pub, err := x509.ParsePKIXPublicKey(raw)
		if err != nil {
			return nil, fmt.Errorf("tokenPublicKey: not a DER or PEM public key: %w", err)
		}
		alg := cfg.PublicAlg
		if alg == "" {
			alg = "RS256"
		}
		if jwt.GetSigningMethod(alg) == nil || strings.HasPrefix(alg, "HS") {
			return nil, fmt.Errorf("tokenPublicAlg: unknown algorithm %q", alg)
		}
		v.key, v.methods = pub, []string{alg}
	default:
		return nil, errors.New("set tokenSecretKey or tokenPublicKey")
	}
	return v, nil
}

// readKey reads a key given as Pulsar gives it.
func readKey(s string) ([]byte, error) {
	switch {
	case strings.HasPrefix(s, "data:"):
		_, data, ok := strings.Cut(s, ",")
		if !ok || !strings.Contains(s[:len(s)-len(data)], ";base64") {
			return nil, errors.New("a data: key must be data:;base64,<key>")
		}
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return nil, errors.New("the data: key is not valid base64")
		}
		return b, nil
	case strings.HasPrefix(s, "file:"):
		path := strings.TrimPrefix(strings.TrimPrefix(s, "file:"), "//")
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("the key must be data:;base64,<key>, file:///path or base64")
	}
	return b, nil
}

// Verify checks a token's signature, expiry and audience and returns its
// role. Errors wrap ErrAuthenticationFailed and say which check failed.
func (v *TokenVerifier) Verify(token string) (TokenClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return v.key, nil },
		jwt.WithValidMethods(v.methods), jwt.WithTimeFunc(v.cfg.Now))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return TokenClaims{}, failed("the token has expired")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return TokenClaims{}, failed("the token is not valid yet")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return TokenClaims{}, failed("the token's signature is not valid")
	case err != nil:
		return TokenClaims{}, failed("the password is not a valid token")
	}
	role, _ := claims[v.cfg.AuthClaim].(string)
	if role == "" {
		return TokenClaims{}, failed(fmt.Sprintf("the token has no %q claim", v.cfg.AuthClaim))
	}
	if v.cfg.AudienceClaim != "" {
		var auds []string
		switch a := claims[v.cfg.AudienceClaim].(type) {
		case string:
			auds = []string{a}
		case []any:
			for _, x := range a {
				if s, ok := x.(string); ok {
					auds = append(auds, s)
				}
			}
		}
		ok := false
		for _, a := range auds {
			ok = ok || a == v.cfg.Audience
		}
		if !ok {
			return TokenClaims{}, failed("the token is not meant for this audience")
		}
	}
	out := TokenClaims{Subject: role}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		out.ExpiresMs = exp.UnixMilli()
	}
	return out, nil
}
