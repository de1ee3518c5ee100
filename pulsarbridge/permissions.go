package pulsarbridge

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"

	"github.com/kop-project/kop/scope"
)

// Permissions answers from Pulsar's own authorization data, as KoP does
// for clients that log in with a Pulsar token: the permissions granted on
// a topic's namespace or on the topic (produce, consume) and the admin
// roles of its tenant. Answers are cached for Refresh, so a grant or a
// revocation takes effect within it; the admin API is never asked while a
// lock is held.
type Permissions struct {
	b       *Backend
	refresh time.Duration
	now     func() time.Time

	perms   ttlCache[map[string][]utils.AuthAction] // Pulsar topic or namespace → role → actions
	tenants ttlCache[[]string]                      // tenant → admin roles
}

// ttlCache holds values read from Pulsar with the time they were read.
type ttlCache[V any] struct {
	mu sync.Mutex
	m  map[string]ttlEntry[V]
}

type ttlEntry[V any] struct {
	at time.Time
	v  V
}

// get is key's value if it was read less than ttl before now.
func (c *ttlCache[V]) get(key string, now time.Time, ttl time.Duration) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || now.Sub(e.at) >= ttl {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *ttlCache[V]) put(key string, at time.Time, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCached {
		c.m = map[string]ttlEntry[V]{}
	}
	c.m[key] = ttlEntry[V]{at: at, v: v}
}

// maxCached bounds each cache; when full it starts again empty.
const maxCached = 10000

// Permissions returns the permission source of this backend, its answers
// cached for refresh.
func (b *Backend) Permissions(refresh time.Duration) *Permissions {
	return &Permissions{b: b, refresh: refresh, now: time.Now}
}

// Allowed says whether role holds one of actions ("produce", "consume")
// on the Pulsar topic of a stored Kafka topic name, granted on its namespace or the topic itself,
// or administers the topic's tenant.
func (p *Permissions) Allowed(ctx context.Context, topic, role string, actions ...string) (bool, error) {
	admin, err := p.TenantAdmin(ctx, topic, role)
	if err != nil || admin {
		return admin, err
	}
	// The namespace's grants (a topic not created yet has only those),
	// then the topic's own.
	name := p.b.topicName(topic)
	for _, key := range []string{namespaceKey(name), name} {
		perms, err := p.grants(ctx, key)
		if err != nil {
			return false, err
		}
		for _, a := range perms[role] {
			if slices.Contains(actions, string(a)) {
				return true, nil
			}
		}
	}
	return false, nil
}

// namespaceKey is the perms key of the namespace of a Pulsar topic name:
// "tenant/namespace".
func namespaceKey(topic string) string {
	rest := strings.TrimPrefix(topic, "persistent://")
	return rest[:strings.LastIndexByte(rest, '/')]
}

// TenantAdmin says whether role administers the tenant of a stored topic
// name.
func (p *Permissions) TenantAdmin(ctx context.Context, topic, role string) (bool, error) {
	tenant, _, _ := strings.Cut(strings.TrimPrefix(p.b.topicName(topic), "persistent://"), "/")
	admins, err := p.tenantAdmins(ctx, tenant)
	return slices.Contains(admins, role), err
}

// CheckNamespace refuses a tenant namespace ("tenant/namespace") Pulsar
// does not have the tenant of, and, when withRole, a role that neither
// administers the tenant nor holds a permission in the namespace: the
// "wrong tenant" of a token login.
func (p *Permissions) CheckNamespace(ctx context.Context, ns, role string, withRole bool) error {
	tenant, _, _ := strings.Cut(ns, "/")
	admins, err := p.tenantAdmins(ctx, tenant)
	if err != nil {
		return err
	}
	if !withRole || slices.Contains(admins, role) {
		return nil
	}
	perms, err := p.grants(ctx, ns)
	if err != nil {
		return err
	}
	if len(perms[role]) == 0 {
		return fmt.Errorf("role %q has no permission in Pulsar namespace %s", role, ns)
	}
	return nil
}

// grants are the permissions granted on a Pulsar topic (persistent://…) or namespace
// (tenant/namespace); none when it does not exist.
func (p *Permissions) grants(ctx context.Context, key string) (map[string][]utils.AuthAction, error) {
	now := p.now()
	if perms, ok := p.perms.get(key, now, p.refresh); ok {
		return perms, nil
	}
	ctx, cancel := p.b.opCtx(ctx)
	defer cancel()
	var perms map[string][]utils.AuthAction
	if strings.HasPrefix(key, "persistent://") {
		tn, err := utils.GetTopicName(key)
		if err != nil {
			return nil, fmt.Errorf("topic %q: %w", key, err)
		}
		perms, err = p.b.admin.Topics().GetPermissionsWithContext(ctx, *tn)
		if err != nil && httpStatus(err) != http.StatusNotFound {
			return nil, fmt.Errorf("reading the permissions of %s from Pulsar: %v", key, err)
		}
	} else {
		ns, err := utils.GetNamespaceName(key)
		if err != nil {
			return nil, fmt.Errorf("namespace %q: %w", key, err)
		}
		perms, err = p.b.admin.Namespaces().GetNamespacePermissionsWithContext(ctx, *ns)
		if err != nil && httpStatus(err) != http.StatusNotFound {
			return nil, fmt.Errorf("reading the permissions of namespace %s from Pulsar: %v", key, err)
		}
	}
	p.perms.put(key, now, perms)
	return perms, nil
}

func (p *Permissions) tenantAdmins(ctx context.Context, tenant string) ([]string, error) {
	if err := scope.ValidatePulsarName("tenant", tenant); err != nil {
		return nil, err
	}
	now := p.now()
	if admins, ok := p.tenants.get(tenant, now, p.refresh); ok {
		return admins, nil
	}
	ctx, cancel := p.b.opCtx(ctx)
	defer cancel()
	td, err := p.b.admin.Tenants().GetWithContext(ctx, tenant)
	if err != nil {
		if httpStatus(err) == http.StatusNotFound {
			return nil, fmt.Errorf("Pulsar tenant %q does not exist", tenant)
		}
		return nil, fmt.Errorf("reading tenant %s from Pulsar: %v", tenant, err)
	}
	p.tenants.put(tenant, now, td.AdminRoles)
	return td.AdminRoles, nil
}
