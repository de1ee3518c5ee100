package e2e

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestAdminAPIs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, nil)
	adm := newAdmin(t, b.addr)
	ctx := testCtx(t, 2*time.Minute)

	// Validate-only creates nothing.
	if _, err := adm.ValidateCreateTopics(ctx, 3, 1, nil, "validated"); err != nil {
		t.Fatal(err)
	}
	if tds, err := adm.ListTopics(ctx); err != nil || tds.Has("validated") {
		t.Fatalf("validate-only created the topic (err %v)", err)
	}
	// Create with configs; a duplicate create fails precisely.
	res, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": ptr("3600000"), "max.message.bytes": ptr("65536")}, "admin")
	if err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	if res, _ := adm.CreateTopic(ctx, 2, 1, nil, "admin"); !errors.Is(res.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("duplicate create: %v", res.Err)
	}
	if res, _ := adm.CreateTopic(ctx, 1, 3, nil, "rf3"); !errors.Is(res.Err, kerr.InvalidReplicationFactor) {
		t.Fatalf("replication factor 3 on one broker: %v", res.Err)
	}
	if res, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"no.such.config": ptr("1")}, "badcfg"); !errors.Is(res.Err, kerr.InvalidConfig) {
		t.Fatalf("unknown config: %v", res.Err)
	}
	if res, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": ptr("soon")}, "badcfg"); !errors.Is(res.Err, kerr.InvalidConfig) {
		t.Fatalf("bad config value: %v", res.Err)
	}
	// Kafka 2.x tools set message.format.version; it is accepted (and has
	// no effect, as on Kafka 3) when it names a Kafka version.
	if res, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"message.format.version": ptr("2.0-IV1")}, "mfv"); err != nil || res.Err != nil {
		t.Fatalf("message.format.version=2.0-IV1: %v %v", err, res.Err)
	}
	if res, _ := adm.CreateTopic(ctx, 1, 1, map[string]*string{"message.format.version": ptr("latest")}, "badcfg"); !errors.Is(res.Err, kerr.InvalidConfig) {
		t.Fatalf("message.format.version=latest: %v", res.Err)
	}

	// DescribeConfigs: explicit, broker-default and built-in sources.
	rcs, err := adm.DescribeTopicConfigs(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("admin", nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe: %v %v", err, rc.Err)
	}
	cfg := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		cfg[c.Key] = c
	}
	if c := cfg["retention.ms"]; c.MaybeValue() != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms: %+v", c)
	}
	if c := cfg["cleanup.policy"]; c.MaybeValue() != "delete" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("cleanup.policy: %+v", c)
	}

	// IncrementalAlterConfigs SET and DELETE; AlterConfigs replaces.
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.bytes", Value: ptr("1048576")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, "admin"); err != nil {
		t.Fatal(err)
	}
	rcs, _ = adm.DescribeTopicConfigs(ctx, "admin")
	rc, _ = rcs.On("admin", nil)
	for _, c := range rc.Configs {
		switch c.Key {
		case "retention.bytes":
			if c.MaybeValue() != "1048576" {
				t.Fatalf("retention.bytes %q", c.MaybeValue())
			}
		case "retention.ms":
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				t.Fatal("retention.ms still set after DELETE")
			}
		}
	}
	ar, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: ptr("60000")}}, "admin")
	if err != nil || ar[0].Err != nil {
		t.Fatalf("alter configs: %v %+v", err, ar)
	}
	rcs, _ = adm.DescribeTopicConfigs(ctx, "admin")
	rc, _ = rcs.On("admin", nil)
	for _, c := range rc.Configs {
		if c.Key == "retention.bytes" && c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			t.Fatal("AlterConfigs kept a config it did not name")
		}
	}
	bad, _ := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "message.timestamp.type", Value: ptr("Sometime")}}, "admin")
	if len(bad) != 1 || !errors.Is(bad[0].Err, kerr.InvalidConfig) {
		t.Fatalf("bad incremental value: %+v", bad)
	}

	// Broker configs are described, not altered.
	brs, err := adm.DescribeBrokerConfigs(ctx, 0)
	if err != nil || len(brs) != 1 || brs[0].Err != nil || len(brs[0].Configs) == 0 {
		t.Fatalf("describe broker: %v %+v", err, brs)
	}

	// CreatePartitions grows, never shrinks.
	if _, err := adm.CreatePartitions(ctx, 2, "admin"); err != nil {
		t.Fatal(err)
	}
	if r, _ := adm.UpdatePartitions(ctx, 3, "admin"); r["admin"].Err == nil {
		t.Fatalf("shrinking to 3 partitions accepted: %+v", r)
	}
	tds, err := adm.ListTopics(ctx, "admin")
	if err != nil || len(tds["admin"].Partitions) != 4 {
		t.Fatalf("partitions after grow: %v %d", err, len(tds["admin"].Partitions))
	}

	// Produce, then DeleteRecords, ListOffsets (earliest/latest/time),
	// OffsetForLeaderEpoch.
	cl := newClient(t, b.addr, kgo.DefaultProduceTopic("admin"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	before := time.Now().UnixMilli()
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Partition: 0, Value: []byte(strconv.Itoa(i)), Timestamp: time.UnixMilli(before + int64(i)*1000)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	byTime, err := adm.ListOffsetsAfterMilli(ctx, before+4500, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := byTime.Lookup("admin", 0); o.Offset != 5 {
		t.Fatalf("offset for time: %+v", o)
	}
	dr, err := adm.DeleteRecords(ctx, kadm.Offsets{"admin": {0: {Topic: "admin", Partition: 0, At: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := dr.Lookup("admin", 0); r.Err != nil || r.LowWatermark != 4 {
		t.Fatalf("delete records: %+v", r)
	}
	starts, _ := adm.ListStartOffsets(ctx, "admin")
	ends, _ := adm.ListEndOffsets(ctx, "admin")
	if s, _ := starts.Lookup("admin", 0); s.Offset != 4 {
		t.Fatalf("start offset %+v", s)
	}
	if e, _ := ends.Lookup("admin", 0); e.Offset != 10 {
		t.Fatalf("end offset %+v", e)
	}
	dr, _ = adm.DeleteRecords(ctx, kadm.Offsets{"admin": {0: {Topic: "admin", Partition: 0, At: 11}}})
	if r, _ := dr.Lookup("admin", 0); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete beyond the end: %+v", r)
	}
	// A fetch below the start offset is out of range.
	c := dialRaw(t, b.addr)
	fr := kmsg.NewPtrFetchRequest()
	fr.Version = 11
	fr.MaxWaitMillis = 100
	fr.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "admin"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset = 1
	fp.PartitionMaxBytes = 1 << 20
	fp.CurrentLeaderEpoch = -1
	ft.Partitions = append(ft.Partitions, fp)
	fr.Topics = append(fr.Topics, ft)
	fresp := c.request(fr, 9).(*kmsg.FetchResponse)
	if p := fresp.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != 4 || p.HighWatermark != 10 {
		t.Fatalf("fetch below start: %+v", p)
	}
	ofe := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ofe.Version = 3
	ofe.ReplicaID = -1
	ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ot.Topic = "admin"
	op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	op.Partition, op.CurrentLeaderEpoch, op.LeaderEpoch = 0, -1, 0
	ot.Partitions = append(ot.Partitions, op)
	ofe.Topics = append(ofe.Topics, ot)
	oresp := c.request(ofe, 10).(*kmsg.OffsetForLeaderEpochResponse)
	if p := oresp.Topics[0].Partitions[0]; p.ErrorCode != 0 || p.EndOffset != 10 || p.LeaderEpoch != 0 {
		t.Fatalf("offset for leader epoch: %+v", p)
	}

	// DescribeCluster names this broker.
	meta, err := adm.BrokerMetadata(ctx)
	if err != nil || len(meta.Brokers) != 1 || meta.Cluster == "" || meta.Controller != 0 {
		t.Fatalf("cluster metadata: %v %+v", err, meta)
	}
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.Version = 1
	dc.EndpointType = 1
	dcr := c.request(dc, 11).(*kmsg.DescribeClusterResponse)
	if dcr.ErrorCode != 0 || len(dcr.Brokers) != 1 || dcr.ClusterID != meta.Cluster {
		t.Fatalf("describe cluster: %+v", dcr)
	}

	// DeleteTopics; the name can be reused at once and starts empty.
	if _, err := adm.DeleteTopic(ctx, "admin"); err != nil {
		t.Fatal(err)
	}
	if r, _ := adm.DeleteTopic(ctx, "admin"); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("second delete: %v", r.Err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "admin"); err != nil {
		t.Fatal(err)
	}
	ends, _ = adm.ListEndOffsets(ctx, "admin")
	if e, _ := ends.Lookup("admin", 0); e.Offset != 0 {
		t.Fatalf("recreated topic has end offset %d", e.Offset)
	}
}

// TestIdempotentProduce sends the same idempotent batch twice and checks it
// is acknowledged at the same offset and stored once; a gap in sequence
// numbers is refused with OUT_OF_ORDER_SEQUENCE_NUMBER.
func TestIdempotentProduce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, nil)
	adm := newAdmin(t, b.addr)
	ctx := testCtx(t, time.Minute)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "idem"); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, b.addr)
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.Version = 4
	ipr := c.request(ip, 1).(*kmsg.InitProducerIDResponse)
	if ipr.ErrorCode != 0 || ipr.ProducerID < 0 {
		t.Fatalf("init producer id: %+v", ipr)
	}
	ip2 := c.request(ip, 2).(*kmsg.InitProducerIDResponse)
	if ip2.ProducerID == ipr.ProducerID {
		t.Fatal("two InitProducerId calls got the same id")
	}
	// A transactional id keeps its producer id and bumps its epoch; a
	// timeout of 0 is refused, as Kafka refuses it.
	txn := kmsg.NewPtrInitProducerIDRequest()
	txn.Version = 4
	txn.TransactionalID = ptr("tx")
	if r := c.request(txn, 3).(*kmsg.InitProducerIDResponse); r.ErrorCode != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("transactional id, timeout 0: %+v", r)
	}
	txn.TransactionTimeoutMillis = 60000
	r1 := c.request(txn, 4).(*kmsg.InitProducerIDResponse)
	r2 := c.request(txn, 5).(*kmsg.InitProducerIDResponse)
	if r1.ErrorCode != 0 || r2.ErrorCode != 0 || r1.ProducerID != r2.ProducerID || r2.ProducerEpoch != r1.ProducerEpoch+1 {
		t.Fatalf("transactional id twice: %+v then %+v", r1, r2)
	}
	produce := func(corr int32, batch []byte) kmsg.ProduceResponseTopicPartition {
		return c.request(produceReq("idem", 8, -1, batch), corr).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
	}
	pid := ipr.ProducerID
	first := produce(10, makeBatch(5, 10, pid, 0))
	again := produce(11, makeBatch(5, 10, pid, 0))
	if first.ErrorCode != 0 || again.ErrorCode != 0 || first.BaseOffset != again.BaseOffset {
		t.Fatalf("retried batch: first %+v, again %+v", first, again)
	}
	if gap := produce(12, makeBatch(1, 10, pid, 9)); gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: %+v", gap)
	}
	if next := produce(13, makeBatch(2, 10, pid, 5)); next.ErrorCode != 0 || next.BaseOffset != 5 {
		t.Fatalf("next batch: %+v", next)
	}
	ends, _ := adm.ListEndOffsets(ctx, "idem")
	if e, _ := ends.Lookup("idem", 0); e.Offset != 7 {
		t.Fatalf("end offset %d, want 7 (the duplicate stored once)", e.Offset)
	}
	// Duplicate detection survives a restart: state is rebuilt from the log.
	b.restart()
	c = dialRaw(t, b.addr)
	if dup := produce(20, makeBatch(2, 10, pid, 5)); dup.ErrorCode != 0 || dup.BaseOffset != 5 {
		t.Fatalf("duplicate after restart: %+v", dup)
	}
	ends, _ = adm.ListEndOffsets(ctx, "idem")
	if e, _ := ends.Lookup("idem", 0); e.Offset != 7 {
		t.Fatalf("end offset after restart %d, want 7", e.Offset)
	}
}

// TestPipelinedIdempotentProduce writes many idempotent batches to one
// partition on one connection without waiting for responses, as producers
// with several requests in flight do: all must land, in order.
func TestPipelinedIdempotentProduce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, nil)
	adm := newAdmin(t, b.addr)
	ctx := testCtx(t, time.Minute)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "pipe"); err != nil {
		t.Fatal(err)
	}
	c := dialRaw(t, b.addr)
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.Version = 4
	pid := c.request(ip, 1).(*kmsg.InitProducerIDResponse).ProducerID
	const n = 50
	var out []byte
	for i := 0; i < n; i++ {
		req := produceReq("pipe", 8, -1, makeBatch(2, 100, pid, int32(2*i)))
		out = append(out, frame(0, 8, int32(100+i), false, req.AppendTo(nil))...)
	}
	c.write(out)
	for i := 0; i < n; i++ {
		body := c.readFrame()
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = 8
		if err := resp.ReadFrom(body[4:]); err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.BaseOffset != int64(2*i) {
			t.Fatalf("request %d: error %d, base offset %d; want 0 and %d", i, p.ErrorCode, p.BaseOffset, 2*i)
		}
	}
}
