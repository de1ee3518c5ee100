package e2e

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kop-project/kop/internal/testcerts"
)

// TestSecureClusterTransactions: three brokers on Pulsar with an INTERNAL
// SSL listener between them (mutual TLS, the brokers' certificate subject
// a super user) and an EXTERNAL SASL_SSL listener for clients, ACLs on.
// An application user with ACLs on its topic and transactional id commits
// and aborts transactions over partitions led by every broker (markers
// travel to the other leaders over INTERNAL); a transactional id it has
// no ACL on is refused.
func TestSecureClusterTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	ca := testcerts.NewCA(t)
	dir := t.TempDir()
	kv, _, _ := onPulsar(t, nil)
	kv["kafkaProtocolMap"] = "INTERNAL:SSL,EXTERNAL:SASL_SSL"
	kv["interBrokerListenerName"] = "INTERNAL"
	kv["kopSslKeystoreLocation"] = testcerts.Write(t, dir, "broker.pem", ca.Broker(t, "kop-broker"))
	kv["kopSslTruststoreLocation"] = testcerts.Write(t, dir, "ca.pem", ca.PEM)
	kv["kopSslClientAuth"] = "requested"
	kv["raftSecurityProtocol"] = "SSL"
	kv["authorizationEnabled"] = "true"
	kv["superUserRoles"] = "CN=kop-broker"
	for k, v := range txnBrokerConf {
		kv[k] = v
	}
	const n = 3
	type ports struct{ internal, external, raft, http int }
	ps := make([]ports, n)
	var peers []string
	for i := range ps {
		ps[i] = ports{freePort(t), freePort(t), freePort(t), freePort(t)}
		peers = append(peers, fmt.Sprintf("%d@127.0.0.1:%d", i+1, ps[i].raft))
	}
	var bs []*broker
	var external []string
	for i, p := range ps {
		c := map[string]string{"raftNodeId": fmt.Sprint(i + 1), "raftPeers": strings.Join(peers, ","),
			"kafkaListeners": fmt.Sprintf("INTERNAL://127.0.0.1:%d,EXTERNAL://127.0.0.1:%d", p.internal, p.external)}
		for k, v := range kv {
			c[k] = v
		}
		b := newBroker(t, "kafka-broker", p.internal, p.raft, p.http, c)
		bs = append(bs, b)
		external = append(external, fmt.Sprintf("127.0.0.1:%d", p.external))
	}
	for _, b := range bs {
		b.launch()
	}
	for _, b := range bs {
		b.waitReady(90 * time.Second)
	}
	ctx := testCtx(t, 3*time.Minute)

	// The operator acts over INTERNAL with the brokers' certificate.
	cert, err := tls.LoadX509KeyPair(kv["kopSslKeystoreLocation"], kv["kopSslKeystoreLocation"])
	if err != nil {
		t.Fatal(err)
	}
	opTLS := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert}}
	op := kadm.NewClient(newClient(t, bs[0].addr, kgo.DialTLSConfig(opTLS)))
	if res, err := op.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "app", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "app-pw"}}); err != nil || res.Error() != nil {
		t.Fatalf("creating the SCRAM user: %v %v", err, res.Error())
	}
	const topic = "secure-txn"
	if res, err := op.CreateTopic(ctx, 6, 1, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, res.Err)
	}
	for _, b := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:app").AllowHosts().Topics(topic).Operations(kadm.OpWrite, kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral),
		kadm.NewACLs().Allow("User:app").AllowHosts().TransactionalIDs("app-txn").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral),
	} {
		rs, err := op.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Err != nil {
				t.Fatalf("CreateACLs: %v", r.Err)
			}
		}
	}
	needSeveralLeaders(t, ctx, op, topic)
	// The user and its ACLs reach every broker through Raft a moment after
	// the broker that took them answered (as ACLs propagate in Kafka);
	// the application starts once each broker has them.
	for i, b := range bs {
		adm := kadm.NewClient(newClient(t, b.addr, kgo.DialTLSConfig(opTLS)))
		checkFor(t, time.Minute, fmt.Sprintf("broker %d to see the SCRAM user and the ACLs", i+1), func() error {
			users, err := adm.DescribeUserSCRAMs(ctx, "app")
			if err != nil || users["app"].Err != nil {
				return fmt.Errorf("DescribeUserSCRAMs: %v %v", err, users["app"].Err)
			}
			acls, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow("User:app").AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
			if err != nil {
				return err
			}
			n := 0
			for _, d := range acls {
				if d.Err != nil {
					return d.Err
				}
				n += len(d.Described)
			}
			if n != 3 { // WRITE and READ on the topic, WRITE on the transactional id
				return fmt.Errorf("%d ACL bindings of User:app, want 3", n)
			}
			return nil
		})
	}

	app := func(opts ...kgo.Opt) *kgo.Client {
		return newClient(t, external[0], append([]kgo.Opt{kgo.SeedBrokers(external...), kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}),
			kgo.SASL(scram.Auth{User: "app", Pass: "app-pw"}.AsSha512Mechanism())}, opts...)...)
	}
	p := app(kgo.TransactionalID("app-txn"), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RecordDeliveryTimeout(time.Minute))
	commitAbortCommit(t, ctx, p)
	c := app(kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < 24 {
		fs := c.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read_committed consumer after %d records: %v", len(got), err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for _, v := range got {
		if !strings.HasPrefix(v, "true-") {
			t.Fatalf("read_committed read %q: an aborted transaction's record", v)
		}
	}
	other := app(kgo.TransactionalID("not-mine"), kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(20*time.Second))
	err = other.BeginTransaction()
	if err == nil {
		err = other.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr()
	}
	// franz-go reports the InitProducerId failure as text inside its
	// fatal producer id error.
	if err == nil || !errors.Is(err, kerr.TransactionalIDAuthorizationFailed) && !strings.Contains(err.Error(), kerr.TransactionalIDAuthorizationFailed.Message) {
		t.Fatalf("a transactional id without ACLs: %v, want TRANSACTIONAL_ID_AUTHORIZATION_FAILED", err)
	}
}
