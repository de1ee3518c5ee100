package kafkaapi

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// benchMeta is a three-broker cluster with many topics.
type benchMeta struct {
	fuzzMeta
	topics []raftmeta.Topic
}

func (m benchMeta) Brokers() []raftmeta.Broker {
	var out []raftmeta.Broker
	for id := int32(1); id <= 3; id++ {
		addr := fmt.Sprintf("127.0.0.%d:9092", id)
		out = append(out, raftmeta.Broker{ID: id, Host: "127.0.0.1", Port: 9092, Listeners: map[string]string{"PLAINTEXT": addr}})
	}
	return out
}

func (m benchMeta) Topics() []raftmeta.Topic { return m.topics }

// BenchmarkMetadataAll: a Metadata request for every topic of a cluster
// of 10,000 partitions (100 topics × 100), handled and encoded.
func BenchmarkMetadataAll(b *testing.B) {
	var topics []raftmeta.Topic
	for i := range 100 {
		t := raftmeta.Topic{Name: fmt.Sprintf("topic-%03d", i), ID: [16]byte{byte(i), 1}}
		for p := range int32(100) {
			t.Partitions = append(t.Partitions, raftmeta.Partition{Index: p, Leader: p%3 + 1, LeaderEpoch: 1})
		}
		topics = append(topics, t)
	}
	s := NewServer(Config{}, Deps{NodeID: 1, Meta: benchMeta{topics: topics}}, slog.New(slog.DiscardHandler))
	r := &request{conn: &conn{s: s, lis: Listener{Name: "PLAINTEXT"}}}
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	ctx := context.Background()
	var buf []byte
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		resp, err := s.handleMetadata(ctx, r, req)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(resp.(*kmsg.MetadataResponse).Topics); n != 101 {
			b.Fatalf("%d topics", n)
		}
		buf = resp.AppendTo(buf[:0])
	}
}
