package kafkaapi

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	errIllegalSASLState = errors.New("SaslAuthenticate without a SaslHandshake before it")
	errReauthPrincipal  = errors.New("re-authentication must keep the principal of the first authentication")
)

// SaslHandshake (key 17): the client names its SASL mechanism; the answer
// lists the enabled ones. After v0 the tokens follow as bare frames, after
// v1 inside SaslAuthenticate requests. A listener without SASL answers
// ILLEGAL_SASL_STATE, as Kafka does.
func (s *Server) saslHandshakeAPI() api {
	return api{key: 17, min: 0, max: 1, handle: handlerOf(s.handleSaslHandshake)}
}

func (s *Server) handleSaslHandshake(_ context.Context, r *request, req *kmsg.SASLHandshakeRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	c := r.conn
	if !c.lis.SASL || s.deps.Auth == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	}
	resp.SupportedMechanisms = s.deps.Auth.Mechanisms()
	if c.auth.exchange != nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		r.closeAfter = true
		return resp, nil
	}
	if c.auth.done && (req.Version == 0 || req.Mechanism != c.auth.principal.Mechanism && c.auth.principal.Mechanism != "") {
		// Re-authentication (KIP-368) uses v1 and the same mechanism.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		r.closeAfter = true
		return resp, nil
	}
	x, err := s.deps.Auth.Start(req.Mechanism)
	if err != nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		r.closeAfter = true
		return resp, nil
	}
	c.auth.exchange, c.auth.mechanism = x, req.Mechanism
	c.auth.raw = req.Version == 0
	return resp, nil
}
