package kafkaapi

import (
	"context"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/security"
)

type fakeAcls struct {
	acls    []raftmeta.Acl
	version uint64
}

func (f *fakeAcls) Acls() []raftmeta.Acl { return f.acls }
func (f *fakeAcls) AclsVersion() uint64  { return f.version }

func acl(rtype, name, pattern, principal, host, op, perm string) raftmeta.Acl {
	return raftmeta.Acl{ResourceType: rtype, ResourceName: name, PatternType: pattern, Principal: principal, Host: host, Operation: op, Permission: perm}
}

// TestAuthorizer: Kafka's rules — super users, DENY over ALLOW, implied
// DESCRIBE, literal, wildcard and prefixed resources, User:* and hosts, no
// ACL means no access unless allowEveryoneIfNoAclFound, and a change of
// the ACLs is seen at once.
func TestAuthorizer(t *testing.T) {
	store := &fakeAcls{acls: []raftmeta.Acl{
		acl(resTopic, "orders", "literal", "User:alice", "*", opWrite, "allow"),
		acl(resTopic, "orders", "literal", "User:alice", "10.0.0.9", opWrite, "deny"),
		acl(resTopic, "logs-", "prefixed", "User:*", "*", opRead, "allow"),
		acl(resTopic, "*", "literal", "User:bob", "*", opDescribeConfigs, "allow"),
		acl(resGroup, "g", "literal", "User:alice", "*", opAll, "allow"),
		acl(resTopic, "secret", "literal", "User:*", "*", opAll, "deny"),
		acl(resTopic, "secret", "literal", "User:alice", "*", opRead, "allow"),
	}, version: 1}
	a := newAuthorizer(AuthzConfig{Enabled: true, SuperUsers: []string{"User:root"}}, store, slog.Default())
	alice, bob, root := security.Principal{Name: "alice"}, security.Principal{Name: "bob"}, security.Principal{Name: "root"}
	for _, c := range []struct {
		p           security.Principal
		host        string
		op, rt, res string
		want        bool
	}{
		{alice, "127.0.0.1", opWrite, resTopic, "orders", true},
		{alice, "127.0.0.1", opDescribe, resTopic, "orders", true}, // implied by WRITE
		{alice, "127.0.0.1", opRead, resTopic, "orders", false},
		{alice, "10.0.0.9", opWrite, resTopic, "orders", false}, // DENY from that host
		{bob, "127.0.0.1", opWrite, resTopic, "orders", false},
		{bob, "127.0.0.1", opRead, resTopic, "logs-app", true}, // prefixed, User:*
		{bob, "127.0.0.1", opRead, resTopic, "log", false},
		{bob, "127.0.0.1", opDescribeConfigs, resTopic, "anything", true}, // wildcard name
		{alice, "127.0.0.1", opDelete, resGroup, "g", true},               // ALL
		{alice, "127.0.0.1", opRead, resTopic, "secret", false},           // DENY wins
		{bob, "127.0.0.1", opRead, resGroup, "unnamed", false},            // no ACL
		{root, "127.0.0.1", opAlter, resCluster, clusterName, true},       // super user
	} {
		if got := a.allowed(context.Background(), c.p, c.host, c.op, c.rt, c.res); got != c.want {
			t.Errorf("%s from %s: %s %s %q = %v, want %v", c.p, c.host, c.op, c.rt, c.res, got, c.want)
		}
	}
	if !a.anyAllowed(alice, "127.0.0.1", opWrite, resTopic) || a.anyAllowed(bob, "127.0.0.1", opWrite, resTopic) {
		t.Error("anyAllowed(WRITE on some topic)")
	}
	// A literal "*" DENY of WRITE takes back every topic ALLOW.
	denyAll := &fakeAcls{acls: []raftmeta.Acl{
		acl(resTopic, "orders", "literal", "User:alice", "*", opWrite, "allow"),
		acl(resTopic, "*", "literal", "User:alice", "*", opWrite, "deny"),
	}, version: 1}
	if newAuthorizer(AuthzConfig{Enabled: true}, denyAll, slog.Default()).anyAllowed(alice, "127.0.0.1", opWrite, resTopic) {
		t.Error("anyAllowed ignores a DENY of every topic")
	}
	// allowEveryoneIfNoAclFound: an idempotent producer with no topic ACL
	// at all is allowed, as Kafka's authorizeByResourceType does.
	onlyCluster := &fakeAcls{acls: []raftmeta.Acl{acl(resCluster, clusterName, "literal", "User:root", "*", opAlter, "allow")}, version: 1}
	if !newAuthorizer(AuthzConfig{Enabled: true, AllowIfNoACL: true}, onlyCluster, slog.Default()).anyAllowed(bob, "127.0.0.1", opWrite, resTopic) ||
		newAuthorizer(AuthzConfig{Enabled: true}, onlyCluster, slog.Default()).anyAllowed(bob, "127.0.0.1", opWrite, resTopic) {
		t.Error("anyAllowed and allowEveryoneIfNoAclFound")
	}
	open := newAuthorizer(AuthzConfig{Enabled: true, AllowIfNoACL: true}, store, slog.Default())
	if !open.allowed(context.Background(), bob, "127.0.0.1", opRead, resGroup, "unnamed") || open.allowed(context.Background(), bob, "127.0.0.1", opWrite, resTopic, "orders") {
		t.Error("allowEveryoneIfNoAclFound: only resources no ACL names are open")
	}
	store.acls = append(store.acls, acl(resTopic, "orders", "literal", "User:bob", "*", opWrite, "allow"))
	store.version++
	if !a.allowed(context.Background(), bob, "127.0.0.1", opWrite, resTopic, "orders") {
		t.Error("a new ACL is not seen")
	}
	var off *authorizer
	if !off.allowed(context.Background(), bob, "h", opAlter, resCluster, clusterName) {
		t.Error("no authorizer must allow everything")
	}
}

// TestAclFilter: DescribeAcls/DeleteAcls filters, MATCH included.
func TestAclFilter(t *testing.T) {
	lit := acl(resTopic, "orders", "literal", "User:alice", "*", opWrite, "allow")
	wild := acl(resTopic, "*", "literal", "User:bob", "*", opRead, "allow")
	pre := acl(resTopic, "ord", "prefixed", "User:bob", "*", opRead, "allow")
	grp := acl(resGroup, "orders", "literal", "User:alice", "*", opRead, "allow")
	name := func(s string) *string { return &s }
	for _, c := range []struct {
		f    aclFilter
		want []raftmeta.Acl
	}{
		{aclFilter{resourceType: "any", pattern: "any", operation: "any", permission: "any"}, []raftmeta.Acl{lit, wild, pre, grp}},
		{aclFilter{resourceType: resTopic, name: name("orders"), pattern: "match", operation: "any", permission: "any"}, []raftmeta.Acl{lit, wild, pre}},
		{aclFilter{resourceType: "any", name: name("orders"), pattern: "literal", operation: "any", permission: "any"}, []raftmeta.Acl{lit, grp}},
		{aclFilter{resourceType: resTopic, pattern: "prefixed", operation: "any", permission: "any"}, []raftmeta.Acl{pre}},
		{aclFilter{resourceType: "any", pattern: "any", principal: name("User:bob"), operation: opRead, permission: "allow"}, []raftmeta.Acl{wild, pre}},
	} {
		var got []raftmeta.Acl
		for _, a := range []raftmeta.Acl{lit, wild, pre, grp} {
			if c.f.matches(a) {
				got = append(got, a)
			}
		}
		if len(got) != len(c.want) {
			t.Errorf("filter %+v matched %v, want %v", c.f, got, c.want)
		}
	}
	if (aclFilter{resourceType: resTopic, pattern: "match", operation: "any", permission: "any"}).check() == "" {
		t.Error("MATCH without a name accepted")
	}
	// Wire names round-trip.
	for _, rt := range []kmsg.ACLResourceType{kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeCluster, kmsg.ACLResourceTypeTransactionalId} {
		if aclResourceType(aclResourceName(rt)) != rt {
			t.Errorf("resource type %v does not round-trip (%q)", rt, aclResourceName(rt))
		}
	}
	for op := kmsg.ACLOperation(2); op <= 12; op++ {
		if aclOperation(aclOperationName(op)) != op {
			t.Errorf("operation %v does not round-trip (%q)", op, aclOperationName(op))
		}
	}
	if aclResourceName(kmsg.ACLResourceTypeTransactionalId) != resTxnID || aclOperationName(kmsg.ACLOperationClusterAction) != opClusterAction {
		t.Errorf("names: %q %q", aclResourceName(kmsg.ACLResourceTypeTransactionalId), aclOperationName(kmsg.ACLOperationClusterAction))
	}
}
