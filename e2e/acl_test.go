package e2e

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/kop-project/kop/internal/testcerts"
)

// TestAcls: with authorizationEnabled, a super user named by its client
// certificate (mutual TLS) creates SCRAM users and ACLs; each user then
// does what its ACLs allow and is refused the rest with Kafka's error
// codes (TOPIC_, GROUP_, CLUSTER_AUTHORIZATION_FAILED), sees only the
// topics it may describe, and nothing refused is written; deleting an ACL
// takes the right away at once; an anonymous client may do nothing.
func TestAcls(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	sb := startSecure(t, map[string]string{"authorizationEnabled": "true", "superUserRoles": "CN=kop-admin"})
	ctx := testCtx(t, 3*time.Minute)
	adminPEM := testcerts.Write(t, t.TempDir(), "admin.pem", sb.ca.Client(t, pkix.Name{CommonName: "kop-admin"}))
	cert, err := tls.LoadX509KeyPair(adminPEM, adminPEM)
	if err != nil {
		t.Fatal(err)
	}
	mtls := sb.tlsConfig()
	mtls.Certificates = []tls.Certificate{cert}
	admin := kadm.NewClient(newClient(t, sb.ssl, kgo.DialTLSConfig(mtls)))
	res, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "pa"},
		{User: "bob", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "pb"},
	})
	if err != nil || res.Error() != nil {
		t.Fatalf("the super user creating SCRAM users: %v %v", err, res.Error())
	}
	for _, topic := range []string{"orders", "logs-app", "secret"} {
		if _, err := admin.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatalf("the super user creating %s: %v", topic, err)
		}
	}
	user := func(name, password string) *kgo.Client {
		return newClient(t, sb.saslPlain, kgo.SASL(scram.Auth{User: name, Pass: password}.AsSha256Mechanism()),
			kgo.RecordDeliveryTimeout(20*time.Second), kgo.RecordRetries(2), kgo.DisableIdempotentWrite())
	}
	alice, bob := user("alice", "pa"), user("bob", "pb")
	produce := func(cl *kgo.Client, topic string) error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
	}
	if err := produce(alice, "orders"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice producing without ACLs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	mustCreate := func(b *kadm.ACLBuilder) {
		t.Helper()
		rs, err := admin.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Err != nil {
				t.Fatalf("CreateACLs %+v: %v", r, r.Err)
			}
		}
	}
	mustCreate(kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	mustCreate(kadm.NewACLs().Allow("User:bob").AllowHosts().Topics("logs-").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternPrefixed))
	mustCreate(kadm.NewACLs().Allow("User:alice").AllowHosts().Groups("g").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))

	if err := produce(alice, "orders"); err != nil {
		t.Fatalf("alice producing to orders with WRITE: %v", err)
	}
	if err := produce(alice, "secret"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice producing to secret: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if err := produce(bob, "logs-app"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob producing with READ only: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	// Metadata lists what each may describe (WRITE and READ imply it).
	for _, c := range []struct {
		name string
		cl   *kgo.Client
		want string
	}{{"alice", alice, "orders"}, {"bob", bob, "logs-app"}} {
		md, err := kadm.NewClient(c.cl).ListTopics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if names := md.Names(); len(names) != 1 || names[0] != c.want {
			t.Fatalf("%s sees topics %v, want [%s]", c.name, names, c.want)
		}
	}
	for _, topic := range []string{"secret", "logs-app"} {
		if n := endOffset(t, admin, topic); n != 0 {
			t.Fatalf("%s has %d records: a refused produce was written", topic, n)
		}
	}
	// The operations Metadata reports are alice's: WRITE and DESCRIBE.
	mreq := kmsg.NewPtrMetadataRequest()
	mreq.Version, mreq.IncludeTopicAuthorizedOperations = 8, true
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr("orders")
	mreq.Topics = append(mreq.Topics, mt)
	mresp, err := mreq.RequestWith(ctx, alice)
	if err != nil || len(mresp.Topics) != 1 || mresp.Topics[0].AuthorizedOperations != 1<<kmsg.ACLOperationWrite|1<<kmsg.ACLOperationDescribe {
		t.Fatalf("alice's authorized operations on orders: %+v, %v; want WRITE and DESCRIBE", mresp, err)
	}
	// bob reads what the super user wrote to logs-app, by assignment; a
	// group he has no ACL on is refused.
	superProducer := newClient(t, sb.ssl, kgo.DialTLSConfig(mtls))
	if err := superProducer.ProduceSync(ctx, &kgo.Record{Topic: "logs-app", Value: []byte("for bob")}).FirstErr(); err != nil {
		t.Fatalf("the super user producing: %v", err)
	}
	reader := newClient(t, sb.saslPlain, kgo.SASL(scram.Auth{User: "bob", Pass: "pb"}.AsSha256Mechanism()),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"logs-app": {0: kgo.NewOffset().AtStart()}}))
	fs := reader.PollFetches(ctx)
	if err := fs.Err0(); err != nil || fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "for bob" {
		t.Fatalf("bob reading logs-app: %d records, %v", fs.NumRecords(), err)
	}
	cg := kmsg.NewPtrJoinGroupRequest()
	cg.Group, cg.ProtocolType, cg.SessionTimeoutMillis, cg.RebalanceTimeoutMillis = "other", "consumer", 10000, 10000
	cg.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0}}}
	jr, err := cg.RequestWith(ctx, bob)
	if err == nil {
		err = kerr.ErrorForCode(jr.ErrorCode)
	}
	if !errors.Is(err, kerr.GroupAuthorizationFailed) {
		t.Fatalf("bob joining a group: %v, want GROUP_AUTHORIZATION_FAILED", err)
	}
	// Cluster operations need cluster ACLs.
	if _, err := kadm.NewClient(alice).CreateTopic(ctx, 1, 1, nil, "alice-new"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice creating a topic: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if ds, err := kadm.NewClient(alice).DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny)); err != nil || len(ds) == 0 || !errors.Is(ds[0].Err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice describing ACLs: %+v %v, want CLUSTER_AUTHORIZATION_FAILED", ds, err)
	}
	if r, err := kadm.NewClient(alice).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "alice", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "x"}}); !errors.Is(err, kerr.ClusterAuthorizationFailed) && !errors.Is(r.Error(), kerr.ClusterAuthorizationFailed) {
		t.Fatalf("alice altering SCRAM users: %v %v, want CLUSTER_AUTHORIZATION_FAILED", err, r.Error())
	}
	// An anonymous client (PLAINTEXT) may do nothing.
	anon := newClient(t, sb.addr, kgo.RecordDeliveryTimeout(20*time.Second), kgo.RecordRetries(2), kgo.DisableIdempotentWrite())
	if err := produce(anon, "orders"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("anonymous producing: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	// TxnOffsetCommit commits the topics alice may read and refuses the
	// others, as Kafka does.
	mustCreate(kadm.NewACLs().Allow("User:alice").AllowHosts().TransactionalIDs("tx").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	mustCreate(kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpRead).ResourcePatternType(kadm.ACLPatternLiteral))
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID, ip.TransactionTimeoutMillis = kmsg.StringPtr("tx"), 60000
	var ipr *kmsg.InitProducerIDResponse
	for {
		ipr, err = ip.RequestWith(ctx, alice)
		if err == nil && ipr.ErrorCode == 0 {
			break
		}
		if err == nil && !kerr.IsRetriable(kerr.ErrorForCode(ipr.ErrorCode)) || ctx.Err() != nil {
			t.Fatalf("alice's InitProducerId: %+v %v", ipr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "tx", ipr.ProducerID, ipr.ProducerEpoch, "g"
	if aor, err := ao.RequestWith(ctx, alice); err != nil || aor.ErrorCode != 0 {
		t.Fatalf("alice's AddOffsetsToTxn: %+v %v", aor, err)
	}
	toc := kmsg.NewPtrTxnOffsetCommitRequest()
	toc.TransactionalID, toc.Group, toc.ProducerID, toc.ProducerEpoch = "tx", "g", ipr.ProducerID, ipr.ProducerEpoch
	for _, topic := range []string{"orders", "secret"} {
		tt := kmsg.NewTxnOffsetCommitRequestTopic()
		tt.Topic = topic
		tp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		tp.Partition, tp.Offset = 0, 1
		tt.Partitions = append(tt.Partitions, tp)
		toc.Topics = append(toc.Topics, tt)
	}
	tocr, err := toc.RequestWith(ctx, alice)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, rt := range tocr.Topics {
		for _, rp := range rt.Partitions {
			codes[rt.Topic] = rp.ErrorCode
		}
	}
	if codes["orders"] != 0 || codes["secret"] != kerr.TopicAuthorizationFailed.Code || len(codes) != 2 {
		t.Fatalf("TxnOffsetCommit of orders and secret answered %v; want orders committed, secret TOPIC_AUTHORIZATION_FAILED", codes)
	}

	described, err := admin.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range described {
		if d.Err != nil {
			t.Fatal(d.Err)
		}
		n += len(d.Described)
	}
	if n != 5 {
		t.Fatalf("DescribeACLs found %d bindings, want 5: %+v", n, described)
	}
	deleted, err := admin.DeleteACLs(ctx, kadm.NewACLs().Allow("User:alice").AllowHosts().Topics("orders").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral))
	if err != nil || len(deleted) != 1 || deleted[0].Err != nil || len(deleted[0].Deleted) != 1 {
		t.Fatalf("DeleteACLs: %+v %v", deleted, err)
	}
	if err := produce(alice, "orders"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice producing after her ACL was deleted: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// newWriteACL allows principal to WRITE topic.
func newWriteACL(principal, topic string) *kadm.ACLBuilder {
	return kadm.NewACLs().Allow(principal).AllowHosts().Topics(topic).Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)
}
