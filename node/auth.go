package node

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"time"

	"github.com/kop-project/kop/kafkaapi"
	"github.com/kop-project/kop/pulsarbridge"
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

// permissions is Pulsar's permission source for token logins when the
// data is in Pulsar; nil otherwise.
func (n *Node) permissions() *pulsarbridge.Permissions {
	pb, ok := n.backend.(*pulsarbridge.Backend)
	if !ok || n.cfg.SASL.Tokens == nil {
		return nil
	}
	if n.perms == nil {
		refresh := n.cfg.AuthzCacheRefresh
		if refresh <= 0 {
			refresh = 30 * time.Second
		}
		n.perms = pb.Permissions(refresh)
	}
	return n.perms
}

// authz is the ACL configuration, with Pulsar's permissions for token
// logins when the data is in Pulsar (as KoP authorizes them).
func (n *Node) authz() kafkaapi.AuthzConfig {
	cfg := n.cfg.Authz
	if p := n.permissions(); p != nil && cfg.Enabled {
		cfg.Pulsar = p
	}
	return cfg
}

// tenancy gives Pulsar-token logins their tenant's namespace; nil when
// tokens are not accepted or kafkaEnableMultiTenantMetadata is off. With
// the data in Pulsar, a login naming a tenant Pulsar does not have (or,
// with authorizationEnabled, a namespace the role holds no permission in
// and whose tenant it does not administer) is refused.
func (n *Node) tenancy() *kafkaapi.Tenancy {
	if n.cfg.SASL.Tokens == nil || !n.cfg.MultiTenant {
		return nil
	}
	t := &kafkaapi.Tenancy{Default: n.cfg.KafkaTenant + "/" + n.cfg.KafkaNamespace, Namespace: n.cfg.KafkaNamespace}
	if p := n.permissions(); p != nil {
		withRole := n.cfg.Authz.Enabled
		t.Check = func(ctx context.Context, ns, role string) error {
			if slices.Contains(n.cfg.Authz.SuperUsers, "User:"+role) {
				return nil
			}
			return p.CheckNamespace(ctx, ns, role, withRole)
		}
	}
	return t
}
