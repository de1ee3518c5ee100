package kafkaapi

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/scope"
	"github.com/kop-project/kop/security"
)

// TestScopeRewrites: a tenant's request names become stored names, its
// response names come back as the client sent them, other tenants'
// entries leave the listings, and another tenant's topic id is unknown.
func TestScopeRewrites(t *testing.T) {
	acme := scope.Namespace("acme/default")
	betaTopic := raftmeta.Topic{Name: "beta/default/orders", ID: [16]byte{7}}
	s := &Server{deps: Deps{Meta: fuzzMeta{t: betaTopic}}}

	produce := kmsg.NewPtrProduceRequest()
	txn := "tx"
	produce.TransactionID = &txn
	produce.Topics = []kmsg.ProduceRequestTopic{{Topic: "orders"}, {TopicID: betaTopic.ID}}
	s.scopeRequest(acme, produce)
	if produce.Topics[0].Topic != "acme/default/orders" || *produce.TransactionID != "acme/default\x00tx" {
		t.Fatalf("produce not scoped: %q %q", produce.Topics[0].Topic, *produce.TransactionID)
	}
	if produce.Topics[1].TopicID != ([16]byte{}) {
		t.Fatal("another tenant's topic id passed")
	}

	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = "g"
	s.scopeRequest(acme, join)
	if join.Group != "acme/default\x00g" {
		t.Fatalf("group stored as %q", join.Group)
	}

	// Listings keep only acme's, named as acme's clients name them.
	md := kmsg.NewPtrMetadataResponse()
	for _, n := range []string{"acme/default/orders", "beta/default/orders", "orders", "\x00x/y"} {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = kmsg.StringPtr(n)
		md.Topics = append(md.Topics, mt)
	}
	scopeResponse(acme, md)
	if len(md.Topics) != 2 || *md.Topics[0].Topic != "orders" || *md.Topics[1].Topic != "x/y" {
		t.Fatalf("acme's metadata lists %v", md.Topics)
	}
	groups := kmsg.NewPtrListGroupsResponse()
	for _, g := range []string{"acme/default\x00g", "beta/default\x00g", "g"} {
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = g
		groups.Groups = append(groups.Groups, lg)
	}
	scopeResponse(scope.Default, groups)
	if len(groups.Groups) != 1 || groups.Groups[0].Group != "g" {
		t.Fatalf("the default namespace lists groups %v", groups.Groups)
	}

	// Broker configs are not topics.
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.Resources = []kmsg.DescribeConfigsRequestResource{{ResourceType: kmsg.ConfigResourceTypeBroker, ResourceName: "1"}, {ResourceType: kmsg.ConfigResourceTypeTopic, ResourceName: "t"}}
	s.scopeRequest(acme, dc)
	if dc.Resources[0].ResourceName != "1" || dc.Resources[1].ResourceName != "acme/default/t" {
		t.Fatalf("describe configs scoped as %v", dc.Resources)
	}
}

func TestTenancyNamespaceOf(t *testing.T) {
	ten := &Tenancy{Default: "public/default", Namespace: "default"}
	for _, c := range []struct {
		tenant string
		want   scope.Namespace
	}{{"", scope.Default}, {"public", scope.Default}, {"public/default", scope.Default}, {"acme", "acme/default"}, {"acme/ns", "acme/ns"}} {
		if got, err := ten.namespaceOf(security.Principal{Name: "u", Tenant: c.tenant}); err != nil || got != c.want {
			t.Errorf("tenant %q: %q %v, want %q", c.tenant, got, err, c.want)
		}
	}
	if _, err := ten.namespaceOf(security.Principal{Name: "u", Tenant: "bad name"}); err == nil {
		t.Error("a bad tenant name was accepted")
	}
	var off *Tenancy
	if got, _ := off.namespaceOf(security.Principal{Tenant: "acme"}); got != scope.Default {
		t.Errorf("without tenancy acme works in %q", got)
	}
}

type fakePulsarPerms struct {
	grants map[string][]string // topic + " " + role → actions
	admins map[string]bool     // role
	err    error
}

func (f fakePulsarPerms) Allowed(_ context.Context, topic, role string, actions ...string) (bool, error) {
	if f.err != nil {
		return false, f.err
	}
	for _, a := range f.grants[topic+" "+role] {
		for _, want := range actions {
			if a == want {
				return true, nil
			}
		}
	}
	return f.admins[role], nil
}

func (f fakePulsarPerms) TenantAdmin(_ context.Context, _, role string) (bool, error) {
	return f.admins[role], f.err
}

// TestPulsarPermissions: token principals get what Pulsar grants their
// role; Kafka DENY bindings still win; a Pulsar that cannot answer
// refuses; other principals are not judged by Pulsar.
func TestPulsarPermissions(t *testing.T) {
	perms := fakePulsarPerms{
		grants: map[string][]string{"acme/default/orders app": {"produce"}, "acme/default/orders reader": {"consume"}},
		admins: map[string]bool{"boss": true},
	}
	store := &fakeAcls{acls: []raftmeta.Acl{acl(resTopic, "orders", "literal", "User:reader", "*", opRead, "deny")}}
	a := newAuthorizer(AuthzConfig{Enabled: true, Pulsar: perms}, store, slog.Default())
	token := func(name string) security.Principal {
		return security.Principal{Name: name, Mechanism: "PLAIN", Tenant: "acme"}
	}
	ctx := context.Background()
	for _, c := range []struct {
		p        security.Principal
		op, rt   string
		resource string
		want     bool
	}{
		{token("app"), opWrite, resTopic, "acme/default/orders", true},
		{token("app"), opCreate, resTopic, "acme/default/orders", true},
		{token("app"), opDescribe, resTopic, "acme/default/orders", true},
		{token("app"), opRead, resTopic, "acme/default/orders", false},
		{token("app"), opDelete, resTopic, "acme/default/orders", false},
		{token("reader"), opRead, resTopic, "acme/default/orders", false}, // Kafka DENY
		{token("reader"), opDescribe, resTopic, "acme/default/orders", true},
		{token("boss"), opDelete, resTopic, "acme/default/orders", true},
		{token("app"), opRead, resGroup, "acme/default\x00g", true},
		{token("app"), opIdempotentWrite, resCluster, clusterName, true},
		{token("app"), opAlter, resCluster, clusterName, false},
		{security.Principal{Name: "app", Mechanism: "SCRAM-SHA-256"}, opWrite, resTopic, "acme/default/orders", false},
	} {
		if got := a.allowed(ctx, c.p, "127.0.0.1", c.op, c.rt, c.resource); got != c.want {
			t.Errorf("%s %s %s %s: %v, want %v", c.p, c.op, c.rt, c.resource, got, c.want)
		}
	}
	down := newAuthorizer(AuthzConfig{Enabled: true, Pulsar: fakePulsarPerms{err: errors.New("connection refused")}}, store, slog.Default())
	if down.allowed(ctx, token("boss"), "127.0.0.1", opWrite, resTopic, "acme/default/orders") {
		t.Error("allowed while Pulsar could not be asked")
	}
	// Bindings name topics as clients do, whatever their namespace.
	named := newAuthorizer(AuthzConfig{Enabled: true}, &fakeAcls{acls: []raftmeta.Acl{acl(resTopic, "orders", "literal", "User:alice", "*", opWrite, "allow")}}, slog.Default())
	if !named.allowed(ctx, security.Principal{Name: "alice"}, "h", opWrite, resTopic, "acme/default/orders") {
		t.Error("a binding on orders does not cover a tenant's orders")
	}
}
