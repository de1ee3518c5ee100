package security

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
)

// SCRAM mechanism names, as SaslHandshake carries them.
const (
	ScramSHA256 = "SCRAM-SHA-256"
	ScramSHA512 = "SCRAM-SHA-512"
)

// Iteration bounds of a SCRAM credential, Kafka's: fewer than 4096 are
// refused (RFC 7677's minimum), more than 16384 too.
const (
	MinScramIterations = 4096
	MaxScramIterations = 16384
)

// ScramCredential is what the broker keeps of a SCRAM password: the salt,
// the iteration count and the two keys derived from the salted password
// (RFC 5802, section 3). The password cannot be computed back from it.
type ScramCredential struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// scramHash is the hash of a SCRAM mechanism.
func scramHash(mechanism string) (func() hash.Hash, bool) {
	switch mechanism {
	case ScramSHA256:
		return sha256.New, true
	case ScramSHA512:
		return sha512.New, true
	}
	return nil, false
}

// ScramMechanisms are the SCRAM mechanisms KOP serves, strongest last.
func ScramMechanisms() []string { return []string{ScramSHA256, ScramSHA512} }

// SaltedPassword is Hi(password, salt, iterations) of RFC 5802, which
// AlterUserScramCredentials carries instead of the password.
func SaltedPassword(mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	h, ok := scramHash(mechanism)
	if !ok {
		return nil, fmt.Errorf("security: unknown SCRAM mechanism %q", mechanism)
	}
	if iterations < 1 {
		return nil, fmt.Errorf("security: SCRAM iterations must be positive")
	}
	return pbkdf2.Key(h, password, salt, iterations, h().Size())
}

// CredentialFromSalted derives the stored credential from a salted
// password.
func CredentialFromSalted(mechanism string, salted, salt []byte, iterations int) (ScramCredential, error) {
	h, ok := scramHash(mechanism)
	if !ok {
		return ScramCredential{}, fmt.Errorf("security: unknown SCRAM mechanism %q", mechanism)
	}
	if iterations < MinScramIterations || iterations > MaxScramIterations {
		return ScramCredential{}, fmt.Errorf("security: SCRAM iterations must be between %d and %d", MinScramIterations, MaxScramIterations)
	}
	if len(salt) == 0 {
		return ScramCredential{}, fmt.Errorf("security: empty SCRAM salt")
	}
	if len(salted) != h().Size() {
		return ScramCredential{}, fmt.Errorf("security: a %s salted password has %d bytes, not %d", mechanism, h().Size(), len(salted))
	}
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	stored := h()
	stored.Write(clientKey)
	return ScramCredential{
		Salt:       bytes.Clone(salt),
		Iterations: iterations,
		StoredKey:  stored.Sum(nil),
		ServerKey:  hmacSum(h, salted, []byte("Server Key")),
	}, nil
}

// NewScramCredential salts password with a fresh random salt.
func NewScramCredential(mechanism, password string, iterations int, rand io.Reader) (ScramCredential, error) {
	salt := make([]byte, 32)
	if _, err := io.ReadFull(rand, salt); err != nil {
		return ScramCredential{}, fmt.Errorf("security: salt: %w", err)
	}
	salted, err := SaltedPassword(mechanism, password, salt, iterations)
	if err != nil {
		return ScramCredential{}, err
	}
	return CredentialFromSalted(mechanism, salted, salt, iterations)
}

// checkPassword says whether password is the one cred was made from.
func (cred ScramCredential) checkPassword(mechanism, password string) bool {
	salted, err := SaltedPassword(mechanism, password, cred.Salt, cred.Iterations)
	if err != nil {
		return false
	}
	c, err := CredentialFromSalted(mechanism, salted, cred.Salt, cred.Iterations)
	return err == nil && subtle.ConstantTimeCompare(c.StoredKey, cred.StoredKey) == 1
}

func hmacSum(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// scramExchange is the server side of one SCRAM authentication: the
// client-first message, answered with the server-first; the client-final,
// answered with the server-final once the proof holds.
type scramExchange struct {
	a         *Authenticator
	mechanism string
	h         func() hash.Hash
	step      int
	user      string
	cred      ScramCredential
	known     bool // cred is the user's (else a stand-in, so unknown users fail like wrong passwords)
	gs2       string
	nonce     string
	firstBare string
	srvFirst  string
}

func (x *scramExchange) Step(msg []byte) ([]byte, *Principal, error) {
	switch x.step {
	case 0:
		x.step = 1
		return x.first(string(msg))
	case 1:
		x.step = 2
		return x.final(string(msg))
	}
	return nil, nil, failed("the SCRAM exchange is already over")
}

func (x *scramExchange) first(msg string) ([]byte, *Principal, error) {
	// gs2-header: no channel binding, optionally an authzid.
	cb, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, nil, failed("malformed SCRAM client-first message")
	}
	switch cb {
	case "n", "y":
	default:
		return nil, nil, failed("SCRAM channel binding is not supported")
	}
	authz, bare, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, nil, failed("malformed SCRAM client-first message")
	}
	x.gs2 = cb + "," + authz + ","
	x.firstBare = bare
	attrs, err := scramAttrs(bare)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := attrs["m"]; ok {
		return nil, nil, failed("SCRAM mandatory extensions are not supported")
	}
	if attrs["tokenauth"] == "true" {
		return nil, nil, failed("delegation tokens are not supported")
	}
	user, err := scramName(attrs["n"])
	if err != nil {
		return nil, nil, err
	}
	cnonce := attrs["r"]
	if user == "" || cnonce == "" || !printable(cnonce) {
		return nil, nil, failed("malformed SCRAM client-first message")
	}
	if authz != "" {
		az, err := scramName(strings.TrimPrefix(authz, "a="))
		if err != nil || !strings.HasPrefix(authz, "a=") || az != user {
			return nil, nil, failed("the SCRAM authorization id must be the user name")
		}
	}
	x.user = user
	if x.a.creds != nil {
		x.cred, x.known = x.a.creds.ScramCredential(user, x.mechanism)
	}
	if !x.known {
		// A stand-in credential: the exchange goes on and fails at the
		// proof, as a wrong password would. Its keys are HMACs, not a
		// PBKDF2 of anything, so an unknown user costs no more than a
		// known one (the server never runs PBKDF2 for SCRAM).
		x.cred = x.a.fakeCredential(user, x.mechanism)
	}
	snonce := make([]byte, 24)
	if _, err := io.ReadFull(x.a.rand, snonce); err != nil {
		return nil, nil, fmt.Errorf("security: nonce: %w", err)
	}
	x.nonce = cnonce + hex.EncodeToString(snonce)
	x.srvFirst = "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(x.cred.Salt) + ",i=" + strconv.Itoa(x.cred.Iterations)
	return []byte(x.srvFirst), nil, nil
}

func (x *scramExchange) final(msg string) ([]byte, *Principal, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, nil, failed("malformed SCRAM client-final message")
	}
	withoutProof := msg[:i]
	attrs, err := scramAttrs(withoutProof)
	if err != nil {
		return nil, nil, err
	}
	if attrs["c"] != base64.StdEncoding.EncodeToString([]byte(x.gs2)) {
		return nil, nil, failed("SCRAM channel binding data does not match")
	}
	// Kafka checks that the nonce ends with the server-first one, not
	// that it equals it: librdkafka sends the client nonce before the
	// whole combined nonce, and Kafka accepts that.
	if !strings.HasSuffix(attrs["r"], x.nonce) {
		return nil, nil, failed("SCRAM nonce does not match")
	}
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	if err != nil || len(proof) != len(x.cred.StoredKey) {
		return nil, nil, failed("malformed SCRAM client proof")
	}
	authMsg := []byte(x.firstBare + "," + x.srvFirst + "," + withoutProof)
	sig := hmacSum(x.h, x.cred.StoredKey, authMsg)
	clientKey := make([]byte, len(proof))
	for j := range proof {
		clientKey[j] = proof[j] ^ sig[j]
	}
	stored := x.h()
	stored.Write(clientKey)
	if subtle.ConstantTimeCompare(stored.Sum(nil), x.cred.StoredKey) != 1 || !x.known {
		return nil, nil, failed(fmt.Sprintf("invalid credentials with SASL mechanism %s", x.mechanism))
	}
	srvSig := hmacSum(x.h, x.cred.ServerKey, authMsg)
	return []byte("v=" + base64.StdEncoding.EncodeToString(srvSig)), &Principal{Name: x.user, Mechanism: x.mechanism}, nil
}

// scramAttrs splits a=v,b=w. Attribute names are single letters except
// for extensions, which keep their name.
func scramAttrs(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" {
			return nil, failed("malformed SCRAM message")
		}
		if _, dup := out[k]; dup {
			return nil, failed("malformed SCRAM message")
		}
		out[k] = v
	}
	return out, nil
}

// scramName undoes SCRAM's escaping of user names (=2C is ",", =3D "=").
func scramName(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", failed("malformed SCRAM user name")
		}
		i += 2
	}
	return b.String(), nil
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}
