package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestThreeNodeClusterOnPulsar: three `kop kafka-broker` processes form one
// Raft group over a real Pulsar. Each takes metadata writes (the followers
// forward them to the Raft leader), partitions are led by all three, and an
// idempotent producer and a consumer group that know only one broker's
// address write and read every record through all of them.
func TestThreeNodeClusterOnPulsar(t *testing.T) {
	bs := startClusterOnPulsar(t, 3, nil)
	ctx := testCtx(t, 3*time.Minute)

	// Topics auto-created through each broker: the two Raft followers
	// forward the write, and each broker reads its own write at once.
	cl := newClient(t, bs[0].addr, kgo.SeedBrokers(bs[0].addr, bs[1].addr, bs[2].addr))
	metadata := func(id int32, topic string, create bool) *kmsg.MetadataResponseTopic {
		t.Helper()
		req := kmsg.NewPtrMetadataRequest()
		req.AllowAutoTopicCreation = create
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := cl.Broker(int(id)).Request(ctx, req)
		if err != nil {
			t.Fatalf("Metadata from broker %d: %v", id, err)
		}
		return &resp.(*kmsg.MetadataResponse).Topics[0]
	}
	for id := int32(1); id <= 3; id++ {
		topic := fmt.Sprintf("auto-%d", id)
		metadata(id, topic, true)
		if got := metadata(id, topic, false); got.ErrorCode != 0 || len(got.Partitions) == 0 {
			t.Fatalf("broker %d right after auto-creating %s: error %d, %d partitions", id, topic, got.ErrorCode, len(got.Partitions))
		}
	}
	if resp, err := newAdmin(t, bs[1].addr).CreateTopic(ctx, 6, 1, nil, "cluster-0"); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v, %v", err, resp)
	}
	// Metadata reaches the other brokers a moment later, as in Kafka.
	for id := int32(1); id <= 3; id++ {
		for metadata(id, "cluster-0", false).ErrorCode != 0 {
			if ctx.Err() != nil {
				t.Fatalf("broker %d never saw cluster-0", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	md, err := newAdmin(t, bs[1].addr).Metadata(ctx, "cluster-0")
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 3 {
		t.Fatalf("Metadata lists %d brokers, want 3", len(md.Brokers))
	}
	leaders := map[int32]bool{}
	for _, pd := range md.Topics["cluster-0"].Partitions {
		leaders[pd.Leader] = true
	}
	if len(leaders) != 3 {
		t.Fatalf("partitions of cluster-0 are led by %v; want all three brokers", leaders)
	}

	const n = 3000
	prod := newClient(t, bs[2].addr, kgo.DefaultProduceTopic("cluster-0"))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	cons := newClient(t, bs[0].addr, kgo.ConsumerGroup("cluster-group"), kgo.ConsumeTopics("cluster-0"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]bool{}
	var got []*kgo.Record
	for len(seen) < n {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the group read %d of %d records", len(seen), n)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != "v"+string(r.Key[1:]) {
				t.Fatalf("record %q=%q", r.Key, r.Value)
			}
			seen[string(r.Key)] = true
			got = append(got, r)
		})
	}
	if counts := checkDense(t, got); len(counts) != 6 {
		t.Fatalf("records came from %d partitions, want 6", len(counts))
	}
	if len(got) != n {
		t.Fatalf("%d records read for %d produced", len(got), n)
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("committing through the group coordinator: %v", err)
	}
	offs, err := newAdmin(t, bs[1].addr).FetchOffsets(ctx, "cluster-group")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != n {
		t.Fatalf("committed offsets add up to %d, want %d", total, n)
	}
}

// TestClusterFailoverOnPulsar: when a broker of three is killed (a Raft
// follower, or the Raft leader, which also coordinates the groups), the
// Raft leader gives its partitions to the other two once
// brokerSessionTimeoutMs has passed and fences it (Metadata stops listing
// it); producers and consumers carry on through the others, and every
// partition's offsets continue densely where the lost broker left them.
// Restarted, it is listed again.
func TestClusterFailoverOnPulsar(t *testing.T) {
	t.Run("follower", func(t *testing.T) { testFailover(t, false) })
	t.Run("raft-leader", func(t *testing.T) { testFailover(t, true) })
}

func testFailover(t *testing.T, killLeader bool) {
	bs := startClusterOnPulsar(t, 3, map[string]string{"brokerSessionTimeoutMs": "3000"})
	ctx := testCtx(t, 4*time.Minute)
	const topic, n = "failover", 600
	if resp, err := newAdmin(t, bs[0].addr).CreateTopic(ctx, 6, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v, %v", err, resp)
	}
	produce := func(cl *kgo.Client, from int) {
		t.Helper()
		var recs []*kgo.Record
		for i := from; i < from+n; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i))})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("producing records %d..%d: %v", from, from+n-1, err)
		}
	}
	produce(newClient(t, bs[0].addr, kgo.SeedBrokers(bs[0].addr, bs[1].addr, bs[2].addr)), 0)

	// Kill the Raft leader (the controller), or a follower leading
	// partitions.
	md, err := newAdmin(t, bs[0].addr).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	victim := int32(-1)
	for id := int32(1); id <= 3; id++ {
		if (id == md.Controller) == killLeader {
			led := 0
			for _, pd := range md.Topics[topic].Partitions {
				if pd.Leader == id {
					led++
				}
			}
			if led > 0 {
				victim = id
				break
			}
		}
	}
	if victim < 0 {
		t.Fatalf("no broker to kill (controller %d, kill the leader: %v): %+v", md.Controller, killLeader, md.Topics[topic].Partitions)
	}
	bs[victim-1].kill9()
	var survivors []string
	for i, b := range bs {
		if int32(i+1) != victim {
			survivors = append(survivors, b.addr)
		}
	}
	adm := newAdmin(t, survivors[0])
	for moved := false; !moved; {
		if ctx.Err() != nil {
			t.Fatalf("the partitions of broker %d never moved", victim)
		}
		time.Sleep(200 * time.Millisecond)
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			continue
		}
		moved = true
		for _, pd := range md.Topics[topic].Partitions {
			if pd.Leader == victim || pd.Leader < 0 {
				moved = false
			}
		}
		for _, b := range md.Brokers {
			if b.NodeID == victim {
				moved = false // not fenced yet
			}
		}
	}

	produce(newClient(t, survivors[0], kgo.SeedBrokers(survivors...)), n)
	got := consumeAll(t, survivors[1], topic, 2*n)
	counts := checkDense(t, got)
	total := 0
	for _, c := range counts {
		total += c
	}
	keys := map[string]bool{}
	for _, r := range got {
		keys[string(r.Key)] = true
	}
	if total != 2*n || len(keys) != 2*n {
		t.Fatalf("read %d records (%d distinct keys) after the failover, want %d", total, len(keys), 2*n)
	}

	// A consumer group works through the survivors: its coordinator is
	// the Raft leader, a new one when the old was killed.
	cons := newClient(t, survivors[0], kgo.SeedBrokers(survivors...), kgo.ConsumerGroup("after-failover"),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for read := 0; read < 2*n; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("the group read %d of %d records after the failover", read, 2*n)
		}
		read += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("group commit after the failover: %v", err)
	}

	// Restarted, the lost broker registers again and is listed again.
	bs[victim-1].start()
	for listed := false; !listed; time.Sleep(100 * time.Millisecond) {
		if ctx.Err() != nil {
			t.Fatalf("broker %d restarted but is not listed again", victim)
		}
		if md, err := adm.Metadata(ctx); err == nil {
			listed = len(md.Brokers) == 3
		}
	}
}
