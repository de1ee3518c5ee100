package kafkaapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/partition"
	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/storage/disklog"
)

// fuzzMeta is the Metadata of a one-broker cluster holding topic "t" with
// two partitions; it refuses every change.
type fuzzMeta struct{ t raftmeta.Topic }

var errFuzzReadOnly = errors.New("fuzz: metadata is read-only")

func (m fuzzMeta) ClusterID() string       { return "fuzz" }
func (m fuzzMeta) LeaderID() (int32, bool) { return 1, true }
func (m fuzzMeta) Brokers() []raftmeta.Broker {
	return []raftmeta.Broker{{ID: 1, Host: "127.0.0.1", Port: 9092, Listeners: map[string]string{"PLAINTEXT": "127.0.0.1:9092"}}}
}
func (m fuzzMeta) Topic(name string) (raftmeta.Topic, bool) { return m.t, name == m.t.Name }
func (m fuzzMeta) TopicByID(id [16]byte) (raftmeta.Topic, bool) {
	return m.t, id == m.t.ID
}
func (m fuzzMeta) Topics() []raftmeta.Topic { return []raftmeta.Topic{m.t} }
func (m fuzzMeta) CreateTopic(context.Context, string, int32, map[string]string, func(int32) int32) (raftmeta.Topic, error) {
	return raftmeta.Topic{}, errFuzzReadOnly
}
func (m fuzzMeta) DeleteTopic(context.Context, string) error { return errFuzzReadOnly }
func (m fuzzMeta) CreatePartitions(context.Context, string, int32, func(int32) int32) error {
	return errFuzzReadOnly
}
func (m fuzzMeta) SetTopicConfigs(context.Context, string, map[string]string) error {
	return errFuzzReadOnly
}
func (m fuzzMeta) AllocateProducerIDs(context.Context, int64) (int64, error) { return 1000, nil }

// fuzzedKeys are the APIs FuzzHandlers drives: every one whose handler
// needs no coordinator (the group and transaction coordinators have their
// own tests).
var fuzzedKeys = map[int16]bool{0: true, 1: true, 2: true, 3: true, 18: true, 19: true, 20: true, 21: true, 22: true,
	23: true, 27: true, 32: true, 33: true, 37: true, 44: true, 60: true, 61: true}

// FuzzHandlers runs arbitrary requests through KOP's own handlers (not
// only franz-go's decoder) against a real embedded log: a handler may
// answer anything, but must not panic (Server.handle turns a panic into a
// closed connection, which this target reports as a failure).
func FuzzHandlers(f *testing.F) {
	disk, err := disklog.New(f.TempDir(), disklog.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { disk.Close() })
	parts := partition.NewManager(disk, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.Cleanup(func() { parts.Close() })
	topic := raftmeta.Topic{Name: "t", ID: raftmeta.TopicID{1}, Partitions: []raftmeta.Partition{{Index: 0, Leader: 1}, {Index: 1, Leader: 1}}}
	s := NewServer(Config{RequestTimeout: time.Second}, Deps{NodeID: 1, Meta: fuzzMeta{t: topic}, Partitions: parts},
		slog.New(slog.NewTextHandler(io.Discard, nil)))

	seed := func(req kmsg.Request) {
		for v := req.MaxVersion(); v >= 0; v -= 3 {
			if a := s.lookup(req.Key()); a == nil || v < a.min || v > a.max {
				continue
			}
			f.Add(seedFrame(req, v))
		}
	}
	produce := kmsg.NewPtrProduceRequest()
	produce.Acks, produce.TimeoutMillis = -1, 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "t"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = []byte{0, 0, 0, 0}
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)
	seed(produce)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.MaxBytes, fetch.ReplicaID = 1<<20, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = "t", topic.ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	seed(fetch)
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "t"
	lt.Partitions = append(lt.Partitions, kmsg.NewListOffsetsRequestTopicPartition())
	lo.Topics = append(lo.Topics, lt)
	seed(lo)
	seed(kmsg.NewPtrMetadataRequest())
	seed(kmsg.NewPtrApiVersionsRequest())
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType, dr.ResourceName = kmsg.ConfigResourceTypeTopic, "t"
	dc.Resources = append(dc.Resources, dr)
	seed(dc)
	dp := kmsg.NewPtrDescribeProducersRequest()
	dpt := kmsg.NewDescribeProducersRequestTopic()
	dpt.Topic, dpt.Partitions = "t", []int32{0, 1, 7}
	dp.Topics = append(dp.Topics, dpt)
	seed(dp)

	f.Fuzz(func(t *testing.T, b []byte) {
		h, rest, err := parseHeader(b)
		if err != nil || !fuzzedKeys[h.key] {
			return
		}
		a := s.lookup(h.key)
		if a == nil || h.version < a.min || h.version > a.max {
			return
		}
		req := kmsg.RequestForKey(h.key)
		req.SetVersion(h.version)
		if req.IsFlexible() {
			if rest, err = skipTags(rest); err != nil {
				return
			}
		}
		if req.ReadFrom(rest) != nil {
			return
		}
		nc, peer := net.Pipe()
		defer nc.Close()
		defer peer.Close()
		c := newConn(s, nc, Listener{Name: "PLAINTEXT"})
		// Long polls and appends end within the fuzz iteration.
		c.ctx, c.cancel = context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer c.cancel()
		r := &request{conn: c, header: h}
		_, err = s.handle(c.ctx, a, r, req)
		if err != nil && strings.Contains(err.Error(), "handler panic") {
			t.Fatalf("%s v%d: %v", kmsg.NameForKey(h.key), h.version, err)
		}
		if r.finish != nil {
			r.finish()
		}
		r.encoded()
	})
}
