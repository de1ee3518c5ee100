package security

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Mechanism names other than SCRAM's.
const (
	Plain = "PLAIN"
)

// ErrAuthenticationFailed is the error of every failed authentication; its
// message says which check failed (never with which secret).
var ErrAuthenticationFailed = errors.New("authentication failed")

// ErrUnsupportedMechanism: the client asked for a mechanism not enabled.
var ErrUnsupportedMechanism = errors.New("unsupported SASL mechanism")

func failed(reason string) error {
	return fmt.Errorf("%w: %s", ErrAuthenticationFailed, reason)
}

// Principal is an authenticated client.
type Principal struct {
	// Name is the user: the SCRAM or PLAIN user name, a token's subject,
	// a client certificate's subject.
	Name      string
	Mechanism string // PLAIN, SCRAM-SHA-256, …, or SSL for a certificate
	// Tenant is what a PLAIN user name authenticated with a Pulsar token
	// names: a Pulsar tenant or tenant/namespace ("" otherwise).
	Tenant string
	// ExpiresMs is when the credential stops being valid (a token's
	// expiry), in Unix milliseconds; 0 when it does not expire.
	ExpiresMs int64
}

// String is Kafka's form, User:name.
func (p Principal) String() string { return "User:" + p.Name }

// Credentials looks up stored SCRAM credentials.
type Credentials interface {
	ScramCredential(user, mechanism string) (ScramCredential, bool)
}

// Exchange is the server side of one SASL authentication. Step takes the
// client's next message and returns the answer to send; the principal is
// set once authentication succeeded. An error ends the exchange.
type Exchange interface {
	Step(msg []byte) (answer []byte, p *Principal, err error)
}

// Config configures an Authenticator.
type Config struct {
	// Mechanisms enabled, by name (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
	Mechanisms []string
	// Tokens, when set, checks PLAIN passwords as Pulsar tokens; when
	// nil, PLAIN passwords are checked against the SCRAM credentials.
	Tokens *TokenVerifier
	// Credentials holds the SCRAM credentials.
	Credentials Credentials
	// OAuth checks OAUTHBEARER tokens; needed when that mechanism is
	// enabled.
	OAuth *OAuthVerifier
	// Rand makes nonces (crypto/rand.Reader).
	Rand io.Reader
	// Secret keys the stand-in salts given for unknown users, so that
	// they look the same on every attempt and differ between brokers.
	Secret []byte
}

// Authenticator starts SASL exchanges.
type Authenticator struct {
	mechanisms []string
	tokens     *TokenVerifier
	oauth      *OAuthVerifier
	creds      Credentials
	rand       io.Reader
	secret     []byte
	// hashing bounds the PLAIN password checks against SCRAM
	// credentials (a PBKDF2 each) running at once, so that a flood of
	// logins cannot take every core from the clients already in.
	hashing chan struct{}
}

// NewAuthenticator checks cfg.
func NewAuthenticator(cfg Config) (*Authenticator, error) {
	for _, m := range cfg.Mechanisms {
		if _, ok := scramHash(m); !ok && m != Plain && m != OAuthBearer {
			return nil, fmt.Errorf("security: %w %q (supported: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)", ErrUnsupportedMechanism, m)
		}
		if m == OAuthBearer && cfg.OAuth == nil {
			return nil, errors.New("security: OAUTHBEARER needs an OAuth key set")
		}
	}
	if cfg.Rand == nil {
		return nil, errors.New("security: Config.Rand is required")
	}
	return &Authenticator{mechanisms: slices.Clone(cfg.Mechanisms), tokens: cfg.Tokens, oauth: cfg.OAuth, creds: cfg.Credentials, rand: cfg.Rand, secret: cfg.Secret,
		hashing: make(chan struct{}, 1)}, nil
}

// Mechanisms are the enabled mechanisms, as SaslHandshake lists them.
func (a *Authenticator) Mechanisms() []string { return slices.Clone(a.mechanisms) }

// Start begins an exchange with mechanism.
func (a *Authenticator) Start(mechanism string) (Exchange, error) {
	if !slices.Contains(a.mechanisms, mechanism) {
		return nil, fmt.Errorf("%w %q (enabled: %s)", ErrUnsupportedMechanism, mechanism, strings.Join(a.mechanisms, ", "))
	}
	if h, ok := scramHash(mechanism); ok {
		return &scramExchange{a: a, mechanism: mechanism, h: h}, nil
	}
	if mechanism == OAuthBearer {
		return &oauthExchange{a: a}, nil
	}
	return &plainExchange{a: a}, nil
}

// fakeCredential is the credential an unknown user is answered with: the
// same on every attempt to this broker.
func (a *Authenticator) fakeCredential(user, mechanism string) ScramCredential {
	h, _ := scramHash(mechanism)
	key := func(label string) []byte { return hmacSum(h, a.secret, []byte(label+"\x00"+mechanism+"\x00"+user)) }
	return ScramCredential{Salt: hmacSum(sha256.New, a.secret, []byte(user)), Iterations: MinScramIterations,
		StoredKey: key("stored"), ServerKey: key("server")}
}

// plainExchange is SASL PLAIN (RFC 4616): one message,
// authzid NUL authcid NUL password.
type plainExchange struct {
	a    *Authenticator
	done bool
}

func (x *plainExchange) Step(msg []byte) ([]byte, *Principal, error) {
	if x.done {
		return nil, nil, failed("the PLAIN exchange is already over")
	}
	x.done = true
	parts := strings.Split(string(msg), "\x00")
	if len(parts) != 3 {
		return nil, nil, failed("malformed PLAIN message: want authzid NUL user NUL password")
	}
	authz, user, password := parts[0], parts[1], parts[2]
	if user == "" || password == "" {
		return nil, nil, failed("PLAIN user name and password must not be empty")
	}
	if authz != "" && authz != user {
		return nil, nil, failed("the PLAIN authorization id must be empty or the user name")
	}
	if x.a.tokens != nil {
		// KoP's convention: the user names the tenant (or
		// tenant/namespace), the password is the token, "token:" first.
		claims, err := x.a.tokens.Verify(strings.TrimPrefix(password, "token:"))
		if err != nil {
			return nil, nil, err
		}
		return nil, &Principal{Name: claims.Subject, Mechanism: Plain, Tenant: user, ExpiresMs: claims.ExpiresMs}, nil
	}
	for _, m := range []string{ScramSHA512, ScramSHA256} {
		if x.a.creds == nil {
			break
		}
		if cred, ok := x.a.creds.ScramCredential(user, m); ok {
			x.a.hashing <- struct{}{}
			good := cred.checkPassword(m, password)
			<-x.a.hashing
			if good {
				return nil, &Principal{Name: user, Mechanism: Plain}, nil
			}
			break
		}
	}
	return nil, nil, failed("invalid credentials with SASL mechanism PLAIN")
}
