package security

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// OAuthBearer is the SASL mechanism of RFC 7628 (KIP-255).
const OAuthBearer = "OAUTHBEARER"

// OAuthConfig is how OAUTHBEARER tokens are checked, with Kafka's
// settings (sasl.oauthbearer.*): JWTs signed by a key of a JWKS file.
type OAuthConfig struct {
	// JWKSFile is a JSON Web Key Set (the identity provider's published
	// keys, saved to a file); re-read when it changes.
	JWKSFile string
	// Issuer and Audience, when set, must be the token's iss and be in
	// its aud.
	Issuer   string
	Audience string
	// SubClaim names the principal (sub).
	SubClaim string
	Now      func() time.Time
}

// OAuthVerifier checks OAUTHBEARER tokens.
type OAuthVerifier struct {
	cfg  OAuthConfig
	keys *reloading[*jose.JSONWebKeySet]
}

// NewOAuthVerifier loads the key set.
func NewOAuthVerifier(cfg OAuthConfig) (*OAuthVerifier, error) {
	if cfg.SubClaim == "" {
		cfg.SubClaim = "sub"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &OAuthVerifier{cfg: cfg, keys: newReloading([]string{cfg.JWKSFile}, func() (*jose.JSONWebKeySet, error) {
		b, err := os.ReadFile(cfg.JWKSFile)
		if err != nil {
			return nil, err
		}
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(b, &set); err != nil {
			return nil, fmt.Errorf("%s: not a JSON Web Key Set: %w", cfg.JWKSFile, err)
		}
		if len(set.Keys) == 0 {
			return nil, fmt.Errorf("%s: the key set holds no key", cfg.JWKSFile)
		}
		return &set, nil
	}, nil)}
	if _, err := v.keys.get(); err != nil {
		return nil, err
	}
	return v, nil
}

// Verify checks a token's signature (by its kid, or every key without
// one), expiry, issuer and audience.
func (v *OAuthVerifier) Verify(token string) (TokenClaims, error) {
	set, err := v.keys.get()
	if err != nil {
		return TokenClaims{}, failed("the broker cannot read its OAuth key set")
	}
	claims := jwt.MapClaims{}
	opts := []jwt.ParserOption{jwt.WithTimeFunc(v.cfg.Now), jwt.WithExpirationRequired(),
		jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"})}
	if v.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.cfg.Issuer))
	}
	if v.cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(v.cfg.Audience))
	}
	_, err = jwt.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		var candidates []jose.JSONWebKey
		if kid != "" {
			candidates = set.Key(kid)
		} else {
			candidates = set.Keys
		}
		var keys jwt.VerificationKeySet
		for _, k := range candidates {
			if k.IsPublic() && (k.Use == "" || k.Use == "sig") {
				keys.Keys = append(keys.Keys, k.Key)
			}
		}
		if len(keys.Keys) == 0 {
			return nil, errors.New("no key of the set matches the token")
		}
		return keys, nil
	}, opts...)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return TokenClaims{}, failed("the token has expired")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return TokenClaims{}, failed("the token has no expiry")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return TokenClaims{}, failed("the token's issuer is not the expected one")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return TokenClaims{}, failed("the token is not meant for this audience")
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return TokenClaims{}, failed("the token is not valid yet")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return TokenClaims{}, failed("the token's signature is not valid")
	case err != nil:
		return TokenClaims{}, failed("not a valid token")
	}
	sub, _ := claims[v.cfg.SubClaim].(string)
	if sub == "" {
		return TokenClaims{}, failed(fmt.Sprintf("the token has no %q claim", v.cfg.SubClaim))
	}
	out := TokenClaims{Subject: sub}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		out.ExpiresMs = exp.UnixMilli()
	}
	return out, nil
}

// oauthExchange is the server side of OAUTHBEARER: one client message,
// gs2-header then \x01-separated key=value pairs, auth=Bearer <token>.
type oauthExchange struct {
	a    *Authenticator
	done bool
}

func (x *oauthExchange) Step(msg []byte) ([]byte, *Principal, error) {
	if x.done {
		return nil, nil, failed("the OAUTHBEARER exchange is already over")
	}
	x.done = true
	if x.a.oauth == nil {
		return nil, nil, failed("OAUTHBEARER is not configured")
	}
	s := string(msg)
	gs2, rest, ok := strings.Cut(s, "\x01")
	if !ok || !strings.HasSuffix(rest, "\x01\x01") && rest != "\x01" {
		return nil, nil, failed("malformed OAUTHBEARER message")
	}
	parts := strings.Split(gs2, ",")
	if len(parts) != 3 || parts[0] != "n" && parts[0] != "y" || parts[2] != "" {
		return nil, nil, failed("malformed OAUTHBEARER gs2 header")
	}
	authz := strings.TrimPrefix(parts[1], "a=")
	var token string
	for _, kv := range strings.Split(strings.TrimSuffix(rest, "\x01\x01"), "\x01") {
		k, v, _ := strings.Cut(kv, "=")
		if k == "auth" {
			scheme, tok, ok := strings.Cut(v, " ")
			if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
				return nil, nil, failed("the auth value must be Bearer <token>")
			}
			token = tok
		}
	}
	if token == "" {
		return nil, nil, failed("no token in the OAUTHBEARER message")
	}
	claims, err := x.a.oauth.Verify(token)
	if err != nil {
		return nil, nil, err
	}
	if authz != "" && authz != claims.Subject {
		return nil, nil, failed("the authorization id must be the token's subject")
	}
	return nil, &Principal{Name: claims.Subject, Mechanism: OAuthBearer, ExpiresMs: claims.ExpiresMs}, nil
}
