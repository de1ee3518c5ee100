package kafkaapi

import (
	"context"
	"errors"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SaslAuthenticate (key 36): one step of the SASL exchange the handshake
// began. A failure answers SASL_AUTHENTICATION_FAILED with the reason and
// closes the connection, after connectionFailedAuthenticationDelayMs. v1+
// tells the client how long its session lasts (KIP-368).
func (s *Server) saslAuthenticateAPI() api {
	return api{key: 36, min: 0, max: 2, handle: handlerOf(s.handleSaslAuthenticate)}
}

func (s *Server) handleSaslAuthenticate(_ context.Context, r *request, req *kmsg.SASLAuthenticateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	c := r.conn
	if !c.lis.SASL || c.auth.exchange == nil || c.auth.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate must follow a SaslHandshake v1 on a SASL listener"
		resp.ErrorMessage = &msg
		r.closeAfter = true
		return resp, nil
	}
	mechanism := c.auth.mechanism
	answer, err := c.saslStep(req.SASLAuthBytes)
	if err != nil {
		if errors.Is(err, errReauthPrincipal) {
			resp.ErrorCode = kerr.IllegalSaslState.Code
		} else {
			resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		}
		msg := "Authentication failed: " + strings.TrimPrefix(err.Error(), "authentication failed: ")
		resp.ErrorMessage = &msg
		s.log.Info("SASL authentication failed", "remote", c.nc.RemoteAddr(), "mechanism", mechanism, "reason", msg)
		s.metrics.authFailures.Add(1)
		r.closeAfter = true
		r.delay = s.cfg.FailedAuthenticationDelay
		return resp, nil
	}
	resp.SASLAuthBytes = answer
	if c.auth.done && !c.auth.expires.IsZero() {
		resp.SessionLifetimeMillis = max(1, c.auth.expires.Sub(s.now()).Milliseconds())
	}
	return resp, nil
}
