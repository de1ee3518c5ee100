package kafkaapi

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/scope"
	"github.com/kop-project/kop/security"
)

// Listener is how Serve treats one listener's connections.
type Listener struct {
	Name string // PLAINTEXT, …: picks the advertised addresses
	// TLS, when set, makes clients handshake TLS first (SSL, SASL_SSL).
	TLS *tls.Config
	// SASL makes clients authenticate (SaslHandshake, SaslAuthenticate)
	// before any request but ApiVersions (SASL_PLAINTEXT, SASL_SSL).
	SASL bool
}

// preAuthMaxBytes bounds a request before the client authenticated on a
// SASL listener, as Kafka's SASL server does (512 KiB): an anonymous peer
// cannot make the broker buffer large frames.
const preAuthMaxBytes = 512 << 10

// anonymous is the principal of a client that did not authenticate
// (PLAINTEXT, or SSL without a client certificate).
var anonymous = security.Principal{Name: "ANONYMOUS"}

// authState is a connection's authentication, touched by its worker
// goroutine only (the SASL handlers run there).
type authState struct {
	principal security.Principal
	// done: the client authenticated (always, on a listener without
	// SASL); the reader reads it too, hence the copy in conn.authed.
	done      bool
	exchange  security.Exchange // after SaslHandshake, until it ends
	mechanism string
	// raw: SaslHandshake v0 was used, so the client sends the SASL
	// tokens as bare frames, not wrapped in SaslAuthenticate.
	raw bool
	// expires ends the session (KIP-368): the client must authenticate
	// again before it, or the connection closes at its next request.
	expires time.Time
}

// allowedBeforeAuth are the APIs a SASL client may call before it has
// authenticated, and while it re-authenticates.
func allowedBeforeAuth(key int16) bool {
	return key == kmsg.ApiVersions.Int16() || key == kmsg.SASLHandshake.Int16() || key == kmsg.SASLAuthenticate.Int16()
}

// gate says why request key may not run on this connection now, "" when
// it may.
func (c *conn) gate(key int16) string {
	if !c.lis.SASL {
		return ""
	}
	if !c.auth.done {
		if allowedBeforeAuth(key) {
			return ""
		}
		return "a request other than ApiVersions, SaslHandshake, SaslAuthenticate before SASL authentication"
	}
	if !c.auth.expires.IsZero() && !c.s.now().Before(c.auth.expires) && key != kmsg.SASLHandshake.Int16() && key != kmsg.SASLAuthenticate.Int16() {
		return "the SASL session expired without re-authentication"
	}
	return ""
}

// rawSASL handles one bare SASL token after a v0 SaslHandshake: the
// answer goes back as a bare frame; a failure closes the connection (v0
// has no way to say why).
func (c *conn) rawSASL(token []byte) (outgoing, bool) {
	answer, err := c.saslStep(token)
	if err != nil {
		c.s.log.Info("SASL authentication failed", "remote", c.nc.RemoteAddr(), "mechanism", c.auth.mechanism, "reason", err.Error())
		c.s.metrics.authFailures.Add(1)
		return outgoing{}, false
	}
	frame := make([]byte, 4, 4+len(answer))
	binary.BigEndian.PutUint32(frame, uint32(len(answer)))
	return outgoing{frame: append(frame, answer...)}, true
}

// rawSASLSafe is rawSASL with a panic (a bug) closing the connection, as
// handle does for requests.
func (c *conn) rawSASLSafe(token []byte) (o outgoing, ok bool) {
	defer func() {
		if v := recover(); v != nil {
			c.s.log.Error("SASL exchange panic", "panic", v)
			o, ok = outgoing{}, false
		}
	}()
	return c.rawSASL(token)
}

// saslStep feeds the exchange one client message. On success it records
// the principal and the session's end.
func (c *conn) saslStep(msg []byte) ([]byte, error) {
	x := c.auth.exchange
	if x == nil {
		return nil, errIllegalSASLState
	}
	answer, p, err := x.Step(msg)
	if err != nil {
		c.auth.exchange, c.auth.raw = nil, false
		return nil, err
	}
	if p == nil {
		return answer, nil // more steps
	}
	c.auth.exchange, c.auth.raw = nil, false
	ns, err := c.s.cfg.Tenancy.namespaceOf(*p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", security.ErrAuthenticationFailed, err)
	}
	if c.auth.done && (c.auth.principal.Name != p.Name || c.ns != ns) {
		return nil, errReauthPrincipal
	}
	if t := c.s.cfg.Tenancy; t != nil && t.Check != nil && ns != scope.Default && !c.auth.done {
		ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.RequestTimeout)
		err := t.Check(ctx, string(ns), p.Name)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", security.ErrAuthenticationFailed, err)
		}
	}
	c.ns = ns
	c.auth.principal, c.auth.done = *p, true
	c.authed.Store(true)
	c.auth.expires = time.Time{}
	if ms := c.s.cfg.ReauthMs; ms > 0 {
		c.auth.expires = c.s.now().Add(time.Duration(ms) * time.Millisecond)
	}
	if p.ExpiresMs > 0 {
		if exp := time.UnixMilli(p.ExpiresMs); c.auth.expires.IsZero() || exp.Before(c.auth.expires) {
			c.auth.expires = exp
		}
	}
	c.s.log.Debug("SASL authenticated", "remote", c.nc.RemoteAddr(), "principal", p.String(), "mechanism", p.Mechanism, "tenant", p.Tenant)
	return answer, nil
}

// Principal is who the connection acts as.
func (c *conn) principal() security.Principal { return c.auth.principal }
