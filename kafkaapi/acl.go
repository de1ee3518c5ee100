package kafkaapi

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/scope"
	"github.com/kop-project/kop/security"
)

// Resource types, operations and permissions of ACLs, by the names
// raftmeta stores (Kafka's enum names in lower case).
const (
	resTopic   = "topic"
	resGroup   = "group"
	resCluster = "cluster"
	resTxnID   = "transactional_id"

	opAll             = "all"
	opRead            = "read"
	opWrite           = "write"
	opCreate          = "create"
	opDelete          = "delete"
	opAlter           = "alter"
	opDescribe        = "describe"
	opClusterAction   = "cluster_action"
	opDescribeConfigs = "describe_configs"
	opAlterConfigs    = "alter_configs"
	opIdempotentWrite = "idempotent_write"

	// clusterName is the name of the one cluster resource.
	clusterName = "kafka-cluster"
)

// AuthzConfig configures authorization.
type AuthzConfig struct {
	// Enabled turns ACL checks on (authorizationEnabled); off, every
	// principal may do everything.
	Enabled bool
	// SuperUsers may do everything (superUserRoles), as principals
	// (User:name).
	SuperUsers []string
	// AllowIfNoACL lets everyone act on a resource no ACL names
	// (allow.everyone.if.no.acl.found).
	AllowIfNoACL bool
	// Pulsar, when set, grants principals that logged in with a Pulsar
	// token what Pulsar's own permissions grant their role, as KoP does
	// (pulsarAllows); Kafka's DENY bindings still win.
	Pulsar PulsarPermissions
}

// PulsarPermissions is Pulsar's authorization data (implemented by
// *pulsarbridge.Permissions): actions "produce" and "consume" granted on
// a topic's namespace or the topic, and its tenant's admin roles.
type PulsarPermissions interface {
	Allowed(ctx context.Context, topic, role string, actions ...string) (bool, error)
	TenantAdmin(ctx context.Context, topic, role string) (bool, error)
}

// AclStore holds the ACL bindings (implemented by *raftmeta.Store).
type AclStore interface {
	Acls() []raftmeta.Acl
	AclsVersion() uint64
}

// authorizer answers whether a principal may perform an operation on a
// resource, as Kafka's AclAuthorizer does: super users may do anything; a
// DENY binding that matches wins; then an ALLOW binding (ALLOW of read,
// write, delete or alter implies describe; of alter_configs,
// describe_configs); a resource no binding names is refused unless
// AllowIfNoACL. Bindings match a resource by literal name, the literal
// wildcard "*", or a prefix; a principal by name or User:*; a host by
// address or "*".
type authorizer struct {
	cfg   AuthzConfig
	store AclStore
	log   *slog.Logger

	mu      sync.Mutex
	version uint64
	loaded  bool
	acls    []raftmeta.Acl // the store's, as of version
}

func newAuthorizer(cfg AuthzConfig, store AclStore, log *slog.Logger) *authorizer {
	return &authorizer{cfg: cfg, store: store, log: log}
}

// current returns the bindings, reloading them when they changed (the
// version is read first, so a change during the load is seen next time).
func (a *authorizer) current() []raftmeta.Acl {
	v := a.store.AclsVersion()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.loaded || v != a.version {
		a.acls, a.version, a.loaded = a.store.Acls(), v, true
	}
	return a.acls
}

// implies says whether an ALLOW of granted also allows op.
func implies(granted, op string) bool {
	if granted == op || granted == opAll {
		return true
	}
	switch op {
	case opDescribe:
		return granted == opRead || granted == opWrite || granted == opDelete || granted == opAlter
	case opDescribeConfigs:
		return granted == opAlterConfigs
	}
	return false
}

func resourceMatches(acl raftmeta.Acl, rtype, name string) bool {
	if acl.ResourceType != rtype {
		return false
	}
	if acl.PatternType == "prefixed" {
		return strings.HasPrefix(name, acl.ResourceName)
	}
	return acl.ResourceName == name || acl.ResourceName == "*"
}

// allowed says whether p, connected from host, may do op on the resource
// of stored name (qualified by a tenant namespace, package scope; the
// bindings name resources as clients do).
func (a *authorizer) allowed(ctx context.Context, p security.Principal, host, op, rtype, stored string) bool {
	if a == nil || !a.cfg.Enabled {
		return true
	}
	if slices.Contains(a.cfg.SuperUsers, p.String()) {
		return true
	}
	name := stored
	switch rtype {
	case resTopic:
		_, name = scope.SplitTopic(stored)
	case resGroup, resTxnID:
		_, name = scope.SplitID(stored)
	}
	switch a.byACLs(p, host, op, rtype, name) {
	case granted:
		return true
	case refused:
		return false
	}
	if a.cfg.Pulsar != nil && p.Tenant != "" {
		return a.pulsarAllows(ctx, p, op, rtype, stored)
	}
	return false
}

type verdict int

const (
	noVerdict verdict = iota // no binding allows (nor denies)
	granted
	refused // a DENY binding matched
)

// byACLs is the bindings' verdict.
func (a *authorizer) byACLs(p security.Principal, host, op, rtype, name string) verdict {
	principal := p.String()
	named, allow := false, false
	for _, acl := range a.current() {
		if !resourceMatches(acl, rtype, name) {
			continue
		}
		named = true
		if acl.Principal != principal && acl.Principal != "User:*" {
			continue
		}
		if acl.Host != "*" && acl.Host != host {
			continue
		}
		if acl.Permission == "deny" && (acl.Operation == op || acl.Operation == opAll) {
			return refused
		}
		if acl.Permission == "allow" && implies(acl.Operation, op) {
			allow = true
		}
	}
	if allow || !named && a.cfg.AllowIfNoACL {
		return granted
	}
	return noVerdict
}

// pulsarAllows is what Pulsar grants a token principal's role, as KoP
// maps it: on a topic, READ needs consume, WRITE produce, DESCRIBE (and
// DESCRIBE_CONFIGS) either, CREATE produce (Pulsar lets a producer
// create topics too), anything else the tenant's admin; groups and
// transactional ids are the principal's (KoP does not check them; its
// namespace keeps other tenants' apart); on the cluster, DESCRIBE and
// IDEMPOTENT_WRITE. A Pulsar that cannot be asked refuses.
func (a *authorizer) pulsarAllows(ctx context.Context, p security.Principal, op, rtype, stored string) bool {
	if rtype == resTopic && scope.ValidateTopic(stored) != nil {
		return false // a name no topic can have: nothing to ask Pulsar
	}
	var actions []string
	switch rtype {
	case resGroup, resTxnID:
		return true
	case resCluster:
		return op == opDescribe || op == opIdempotentWrite
	case resTopic:
		switch op {
		case opRead:
			actions = []string{"consume"}
		case opWrite, opCreate:
			actions = []string{"produce"}
		case opDescribe, opDescribeConfigs:
			actions = []string{"produce", "consume"}
		}
	default:
		return false
	}
	var (
		ok  bool
		err error
	)
	if actions == nil {
		ok, err = a.cfg.Pulsar.TenantAdmin(ctx, stored, p.Name)
	} else {
		ok, err = a.cfg.Pulsar.Allowed(ctx, stored, p.Name, actions...)
	}
	if err != nil {
		a.log.Warn("refused: Pulsar's permissions could not be read", "principal", p.String(), "topic", stored, "err", err)
		return false
	}
	return ok
}

// anyAllowed says whether p holds an ALLOW of op on some resource of
// rtype (InitProducerId of an idempotent producer needs WRITE on a
// topic, any topic, as Kafka 2.8+ asks).
//
// As Kafka's authorizeByResourceType: a resource no binding names is
// allowed when AllowIfNoACL is; an ALLOW counts unless a DENY of the same
// resource pattern (or of every resource, the literal "*") applies too.
func (a *authorizer) anyAllowed(p security.Principal, host, op, rtype string) bool {
	if a == nil || !a.cfg.Enabled || slices.Contains(a.cfg.SuperUsers, p.String()) {
		return true
	}
	if a.cfg.AllowIfNoACL && a.byACLs(p, host, op, rtype, unnamedResource) == granted {
		return true
	}

	applies := func(acl raftmeta.Acl) bool {
		return acl.ResourceType == rtype && (acl.Principal == p.String() || acl.Principal == "User:*") && (acl.Host == "*" || acl.Host == host)
	}
	acls := a.current()
	denied := func(allow raftmeta.Acl) bool {
		for _, d := range acls {
			if applies(d) && d.Permission == "deny" && (d.Operation == op || d.Operation == opAll) &&
				(d.PatternType == "literal" && d.ResourceName == "*" || d.PatternType == allow.PatternType && d.ResourceName == allow.ResourceName) {
				return true
			}
		}
		return false
	}
	for _, acl := range acls {
		if applies(acl) && acl.Permission == "allow" && implies(acl.Operation, op) && !denied(acl) {
			return true
		}
	}
	return false
}

// unnamedResource is a resource name no ACL can name (Kafka names cannot
// hold NUL): only wildcard bindings match it.
const unnamedResource = "\x00unnamed"

// may says whether the request's principal may do op on the resource.
func (r *request) may(op, rtype, name string) bool {
	if r.conn.s.authz == nil {
		return true
	}
	if r.conn.s.cfg.Tenancy != nil && !r.conn.owns(rtype, name) {
		// Another namespace's (a listing's entry, dropped on the way out):
		// refused without asking anyone.
		return false
	}
	return r.conn.s.authz.allowed(r.conn.ctx, r.conn.principal(), r.conn.remoteHost(), op, rtype, name)
}

// owns says whether a stored name belongs to the connection's namespace.
func (c *conn) owns(rtype, stored string) bool {
	switch rtype {
	case resTopic:
		_, ok := c.ns.VisibleTopic(stored)
		return ok
	case resGroup, resTxnID:
		_, ok := c.ns.VisibleID(stored)
		return ok
	}
	return true
}

// remoteHost is the client's address as ACL hosts name it.
func (c *conn) remoteHost() string { return c.host }

// aclNames maps the wire enums of the ACL APIs to the stored names.
func aclResourceName(t kmsg.ACLResourceType) string { return strings.ToLower(t.String()) }
func aclPatternName(t kmsg.ACLResourcePatternType) string {
	return strings.ToLower(t.String())
}
func aclOperationName(o kmsg.ACLOperation) string       { return strings.ToLower(o.String()) }
func aclPermissionName(p kmsg.ACLPermissionType) string { return strings.ToLower(p.String()) }

func aclResourceType(name string) kmsg.ACLResourceType {
	t, _ := kmsg.ParseACLResourceType(name)
	return t
}
func aclPatternType(name string) kmsg.ACLResourcePatternType {
	t, _ := kmsg.ParseACLResourcePatternType(name)
	return t
}
func aclOperation(name string) kmsg.ACLOperation {
	o, _ := kmsg.ParseACLOperation(name)
	return o
}
func aclPermission(name string) kmsg.ACLPermissionType {
	p, _ := kmsg.ParseACLPermissionType(name)
	return p
}

// nameOr is name, or *p when name is empty.
func nameOr(name string, p *string) string {
	if name != "" || p == nil {
		return name
	}
	return *p
}

// mayConfig says whether the principal may do op on a config resource: a
// topic, or the cluster for broker configs.
func (r *request) mayConfig(op string, t kmsg.ConfigResourceType, name string) bool {
	if t == kmsg.ConfigResourceTypeTopic {
		return r.may(op, resTopic, name)
	}
	return r.may(op, resCluster, clusterName)
}

// configAuthError is the error of a refused config resource.
func configAuthError(t kmsg.ConfigResourceType) int16 {
	if t == kmsg.ConfigResourceTypeTopic {
		return kerr.TopicAuthorizationFailed.Code
	}
	return kerr.ClusterAuthorizationFailed.Code
}

// splitBy splits xs into those ok allows and the rest, in order.
func splitBy[T any](xs []T, ok func(T) bool) (yes, no []T) {
	for _, x := range xs {
		if ok(x) {
			yes = append(yes, x)
		} else {
			no = append(no, x)
		}
	}
	return yes, no
}

// allowedOps keeps of the operation bits ops (bit i: ACL operation code
// i) those the principal may perform on the resource.
func (r *request) allowedOps(ops int32, rtype, name string) int32 {
	if r.conn.s.authz == nil {
		return ops
	}
	var out int32
	for code := 0; code < 31; code++ {
		if ops&(1<<code) != 0 && r.may(aclOperationName(kmsg.ACLOperation(code)), rtype, name) {
			out |= 1 << code
		}
	}
	return out
}
