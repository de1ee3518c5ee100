package node

import (
	"crypto/rand"
	"fmt"

	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/security"
)

// authenticator builds the SASL authenticator of the node's SASL
// listeners over the SCRAM credentials in Raft; nil without SASL
// listeners.
func (n *Node) authenticator() (*security.Authenticator, error) {
	sasl := false
	for _, l := range n.cfg.Listeners {
		sasl = sasl || l.SASL
	}
	if !sasl {
		return nil, nil
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("SASL: %w", err)
	}
	a, err := security.NewAuthenticator(security.Config{
		Mechanisms:  n.cfg.SASL.Mechanisms,
		Tokens:      n.cfg.SASL.Tokens,
		OAuth:       n.cfg.SASL.OAuth,
		Credentials: scramCredentials{n.meta},
		Rand:        rand.Reader,
		Secret:      secret,
	})
	if err != nil {
		return nil, fmt.Errorf("SASL: %w", err)
	}
	return a, nil
}

// scramCredentials reads SCRAM credentials from Raft for the
// authenticator.
type scramCredentials struct{ meta *raftmeta.Store }

func (s scramCredentials) ScramCredential(user, mechanism string) (security.ScramCredential, bool) {
	c, ok := s.meta.ScramCredential(user, mechanism)
	if !ok {
		return security.ScramCredential{}, false
	}
	return security.ScramCredential{Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}, true
}
