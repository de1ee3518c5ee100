package kafkaapi

import (
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/partition"
	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/recordbatch/batchtest"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/disklog"
)

// TestProduceNeedsLease: a broker that has lost its lease (out of touch
// with the metadata quorum) answers produce with NOT_LEADER_OR_FOLLOWER,
// writes nothing, and takes produce again once the lease is back.
func TestProduceNeedsLease(t *testing.T) {
	disk, err := disklog.New(t.TempDir(), disklog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	parts := partition.NewManager(disk, slog.Default())
	defer parts.Close()
	topic := raftmeta.Topic{Name: "t", Partitions: []raftmeta.Partition{{Index: 0, Leader: 1}}}
	var lease atomic.Bool
	s := NewServer(Config{}, Deps{NodeID: 1, Meta: oneTopic{t: topic}, Partitions: parts, HoldsLease: lease.Load}, slog.Default())
	conn := serve(t, s)

	produce := func(corr int32) int16 {
		t.Helper()
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(7)
		req.Acks, req.TimeoutMillis = -1, 10_000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = batchtest.Simple(3, 10, 1000)
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		writeRequest(t, conn, req, corr)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		if err := readResponse(conn, corr, resp); err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := produce(0); code != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce without the lease: error %d, want NOT_LEADER_OR_FOLLOWER (%d)", code, kerr.NotLeaderForPartition.Code)
	}
	if _, open := parts.Get(storage.TopicPartition{Topic: "t"}); open {
		t.Fatal("a produce without the lease opened the partition")
	}
	lease.Store(true)
	if code := produce(1); code != 0 {
		t.Fatalf("produce with the lease back: error %d", code)
	}
	p, ok := parts.Get(storage.TopicPartition{Topic: "t"})
	if !ok || p.Log().LogEndOffset() != 3 {
		t.Fatalf("after one produce with the lease: open %v, end %v; want 3 records", ok, p)
	}
}
