package e2e

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsaradmin"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/kop-project/kop/internal/pulsartest"
)

// testTenants, on a Pulsar that authenticates and authorizes with tokens
// (TestPulsarTokenAuth's): Kafka clients log in with SASL/PLAIN, the
// tenant as user name and a Pulsar token as password, as with KoP. Two
// tenants' topics of the same name are two Pulsar topics that never mix;
// neither tenant lists the other's topics or groups, nor reads its
// committed offsets; a tenant Pulsar does not have and a namespace the
// role holds no permission in are refused at login saying why; a role
// Pulsar lets only consume cannot produce; a grant made in Pulsar takes
// effect within kopAuthorizationCacheRefreshMs.
func testTenants(t *testing.T, p *pulsartest.Pulsar, secret []byte, token func(sub string) string) {
	pa, err := pulsaradmin.NewClient(&pulsaradmin.Config{WebServiceURL: p.WebURL, Token: token("admin")})
	if err != nil {
		t.Fatal(err)
	}
	clusters, err := pa.Clusters().List()
	if err != nil {
		t.Fatalf("listing Pulsar clusters: %v", err)
	}
	for _, tenant := range []string{"acme", "beta"} {
		if err := pa.Tenants().Create(utils.TenantData{Name: tenant, AllowedClusters: clusters}); err != nil {
			t.Fatalf("creating tenant %s: %v", tenant, err)
		}
		if err := pa.Namespaces().CreateNamespace(tenant + "/default"); err != nil {
			t.Fatalf("creating namespace %s/default: %v", tenant, err)
		}
	}
	grant := func(ns, role string, actions ...string) {
		t.Helper()
		name, _ := utils.GetNamespaceName(ns)
		var as []utils.AuthAction
		for _, a := range actions {
			as = append(as, utils.AuthAction(a))
		}
		if err := pa.Namespaces().GrantNamespacePermission(*name, role, as); err != nil {
			t.Fatalf("granting %s %v on %s: %v", role, actions, ns, err)
		}
	}
	grant("acme/default", "acme-app", "produce", "consume")
	grant("acme/default", "acme-reader", "consume")
	grant("beta/default", "beta-app", "produce", "consume")

	sb := startSecure(t, map[string]string{
		"brokerServiceUrl":                     p.ServiceURL,
		"webServiceUrl":                        p.WebURL,
		"brokerClientAuthenticationPlugin":     "org.apache.pulsar.client.impl.auth.AuthenticationToken",
		"brokerClientAuthenticationParameters": "token:" + token("kop"),
		"saslAllowedMechanisms":                "PLAIN",
		"tokenSecretKey":                       "data:;base64," + base64.StdEncoding.EncodeToString(secret),
		"authorizationEnabled":                 "true",
		"superUserRoles":                       "ANONYMOUS",
		"kopAuthorizationCacheRefreshMs":       "2000",
	})
	ctx := testCtx(t, 4*time.Minute)
	login := func(user, role string, opts ...kgo.Opt) *kgo.Client {
		opts = append([]kgo.Opt{kgo.SASL(plain.Auth{User: user, Pass: "token:" + token(role)}.AsMechanism()),
			kgo.RecordDeliveryTimeout(45 * time.Second), kgo.RecordRetries(3)}, opts...)
		return newClient(t, sb.saslPlain, opts...)
	}
	acmeAdm := kadm.NewClient(login("acme", "acme-app"))
	betaAdm := kadm.NewClient(login("beta", "beta-app"))
	for adm, topics := range map[*kadm.Client][]string{acmeAdm: {"orders", "acme-only"}, betaAdm: {"orders"}} {
		res, err := adm.CreateTopics(ctx, 2, 1, nil, topics...)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			t.Fatalf("creating %v: %v", topics, err)
		}
	}
	// The same-named topics are two Pulsar topics, one in each tenant's
	// namespace.
	for _, name := range []string{"persistent://acme/default/orders", "persistent://beta/default/orders", "persistent://acme/default/acme-only"} {
		tn, _ := utils.GetTopicName(name)
		md, err := pa.Topics().GetMetadata(*tn)
		if err != nil || md.Partitions != 2 {
			t.Fatalf("Pulsar topic %s: %+v %v; want 2 partitions", name, md, err)
		}
	}
	for who, cl := range map[string]*kgo.Client{"acme": login("acme", "acme-app"), "beta": login("beta", "beta-app")} {
		for i := range 20 {
			r := &kgo.Record{Topic: "orders", Value: []byte(fmt.Sprintf("%s-%d", who, i))}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("%s producing: %v", who, err)
			}
		}
	}
	// Each tenant reads its 20 records only, in group "g" of the same name
	// for both, and commits.
	for _, who := range []string{"acme", "beta"} {
		cl := login(who, who+"-app", kgo.ConsumeTopics("orders"), kgo.ConsumerGroup("g"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		var got []string
		for len(got) < 20 {
			fs := cl.PollFetches(ctx)
			if err := fs.Err0(); err != nil {
				t.Fatalf("%s consuming after %d records: %v", who, len(got), err)
			}
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		for _, v := range got {
			if !strings.HasPrefix(v, who+"-") {
				t.Fatalf("%s read %q: tenants' topics mix", who, v)
			}
		}
		if len(got) != 20 {
			t.Fatalf("%s read %d records, want its 20: %v", who, len(got), got)
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("%s committing: %v", who, err)
		}
		if who == "acme" {
			// beta's group g has no offsets yet: acme's commit is acme's.
			offs, err := betaAdm.FetchOffsets(ctx, "g")
			if err != nil {
				t.Fatalf("beta fetching g's offsets: %v", err)
			}
			if n := len(offs.Sorted()); n != 0 {
				t.Fatalf("beta's group g shows %d committed offsets before beta committed: %v", n, offs.Sorted())
			}
		}
		cl.Close()
	}
	// Listings: each tenant sees its own topics and groups only.
	acmeTopics, err := acmeAdm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	betaTopics, err := betaAdm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := acmeTopics.Names(); !slices.Equal(names, []string{"acme-only", "orders"}) {
		t.Fatalf("acme lists topics %v, want [acme-only orders]", names)
	}
	if names := betaTopics.Names(); !slices.Equal(names, []string{"orders"}) {
		t.Fatalf("beta lists topics %v, want [orders]", names)
	}
	if offs, err := betaAdm.ListEndOffsets(ctx, "acme-only"); err == nil && offs.Error() == nil {
		t.Fatalf("beta reaches acme's acme-only topic: %v", offs)
	}
	groups, err := betaAdm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := groups.Groups(); !slices.Equal(names, []string{"g"}) {
		t.Fatalf("beta lists groups %v, want [g] (its own)", names)
	}
	// Not reachable through a name holding the namespace either.
	if err := login("public", "kop").ProduceSync(ctx, &kgo.Record{Topic: "acme/default/orders", Value: []byte("x")}).FirstErr(); err == nil {
		t.Fatal("a default-namespace client wrote to acme/default/orders")
	}

	// librdkafka and confluent-kafka log in the same way, over SASL_SSL.
	kcatOut := kcat(t, nil, "-b", sb.saslSSL, "-C", "-t", "orders", "-o", "beginning", "-e", "-q",
		"-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=acme",
		"-X", "sasl.password=token:"+token("acme-app"), "-X", "ssl.ca.location="+sb.caFile)
	if got := strings.Fields(string(kcatOut)); len(got) != 20 || slices.ContainsFunc(got, func(v string) bool { return !strings.HasPrefix(v, "acme-") }) {
		t.Fatalf("kcat logged in as acme read %q, want acme's 20 records", kcatOut)
	}
	script := `
import sys
from confluent_kafka import Producer, Consumer
addr, ca, tok = sys.argv[1], sys.argv[2], sys.argv[3]
conf = {"bootstrap.servers": addr, "security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
        "sasl.username": "beta", "sasl.password": "token:" + tok, "ssl.ca.location": ca}
p = Producer(dict(conf, acks="all"))
errs = []
p.produce("orders", b"beta-py", on_delivery=lambda err, msg: errs.append(err))
p.flush(30)
assert errs == [None], errs
c = Consumer(dict(conf, **{"group.id": "py", "auto.offset.reset": "earliest"}))
c.subscribe(["orders"])
seen = []
while len(seen) < 21:  # beta's 20 and its own; the partitions in any order
    m = c.poll(30)
    if m is None:
        raise SystemExit("no record after %d: %r" % (len(seen), seen))
    if m.error():
        continue
    seen.append(m.value().decode())
m = c.poll(3)  # nothing more: not another tenant's either
if m is not None and not m.error():
    seen.append(m.value().decode())
c.close()
print(len(seen), "beta-py" in seen and all(v.startswith("beta-") for v in seen))
`
	if out := python(t, script, sb.saslSSL, sb.caFile, token("beta-app")); out != "21 True" {
		t.Fatalf("confluent-kafka logged in as beta said %q, want beta's 21 records only", out)
	}

	// Refused logins say why.
	for name, c := range map[string]struct{ user, role, why string }{
		"unknown tenant":          {"nosuch", "acme-app", `tenant "nosuch" does not exist`},
		"another tenant's role":   {"beta", "acme-app", "no permission in Pulsar namespace beta/default"},
		"namespace without grant": {"acme/other", "acme-app", "no permission in Pulsar namespace acme/other"},
	} {
		err := login(c.user, c.role, kgo.RecordRetries(0)).ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr()
		if !errors.Is(err, kerr.SaslAuthenticationFailed) || !strings.Contains(err.Error(), c.why) {
			t.Fatalf("%s: %v, want SASL_AUTHENTICATION_FAILED saying %q", name, err, c.why)
		}
	}

	// Pulsar's permissions: a consume-only role reads but cannot write,
	// until Pulsar grants it produce.
	reader := login("acme", "acme-reader", kgo.RecordRetries(0))
	if err := reader.ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("x")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("a consume-only role producing: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if offs, err := kadm.NewClient(reader).FetchOffsets(ctx, "g"); err != nil || len(offs.Sorted()) == 0 {
		t.Fatalf("the consume-only role reading acme's committed offsets: %v %v", offs, err)
	}
	grant("acme/default", "acme-reader", "produce", "consume")
	for {
		err := login("acme", "acme-reader", kgo.RecordRetries(0)).ProduceSync(ctx, &kgo.Record{Topic: "orders", Value: []byte("granted")}).FirstErr()
		if err == nil {
			break
		}
		if !errors.Is(err, kerr.TopicAuthorizationFailed) || ctx.Err() != nil {
			t.Fatalf("after Pulsar granted produce: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
