package kafkaapi

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/partition"
	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/recordbatch/batchtest"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/disklog"
)

// oneTopic is the Metadata of a broker (id 1) leading every partition of
// one topic; the methods a Fetch does not use are left unimplemented.
type oneTopic struct {
	Metadata
	t raftmeta.Topic
}

func (m oneTopic) Topic(name string) (raftmeta.Topic, bool) { return m.t, name == m.t.Name }

// poisonBackend hands out logs whose reads come in buffers that Release
// overwrites, as a recycled buffer would be by the next read.
type poisonBackend struct{ storage.Backend }

func (b poisonBackend) Open(ctx context.Context, tp storage.TopicPartition, cfg storage.TopicConfig) (storage.PartitionLog, error) {
	l, err := b.Backend.Open(ctx, tp, cfg)
	return poisonLog{l}, err
}

type poisonLog struct{ storage.PartitionLog }

func (l poisonLog) Read(ctx context.Context, offset int64, maxBytes int) (storage.ReadResult, error) {
	res, err := l.PartitionLog.Read(ctx, offset, maxBytes)
	buf := append([]byte(nil), res.Records...)
	res.Records = buf
	res.Release = func() {
		for i := range buf {
			buf[i] = 0xEE
		}
	}
	return res, err
}

// TestFetchReleasesAfterEncoding: the buffers a fetch read its records into
// are given back only once the response frame holds a copy, so the client
// gets the stored bytes even though the buffer is reused at once.
func TestFetchReleasesAfterEncoding(t *testing.T) {
	ctx := context.Background()
	disk, err := disklog.New(t.TempDir(), disklog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	parts := partition.NewManager(poisonBackend{disk}, slog.Default())
	topic := raftmeta.Topic{Name: "t", Partitions: []raftmeta.Partition{{Index: 0, Leader: 1}}}
	s := NewServer(Config{}, Deps{NodeID: 1, Meta: oneTopic{t: topic}, Partitions: parts}, slog.Default())

	cfg, err := s.topicConfig(topic)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parts.Acquire(ctx, storage.TopicPartition{Topic: "t"}, 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var stored []byte
	for i := range 3 {
		raw := batchtest.Simple(50, 1000, int64(1000+i))
		if _, err := p.Append(ctx, storage.Batch{Raw: raw}); err != nil {
			t.Fatal(err)
		}
		res, err := p.Log().Read(ctx, int64(i*50), 1)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, res.Records...)
	}

	conn := serve(t, s)

	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(4)
	req.MaxBytes, req.MaxWaitMillis, req.ReplicaID = 1<<20, 0, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 1 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	for corr := range int32(2) { // twice: the second fetch reuses the first's buffers
		writeRequest(t, conn, req, corr)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		if err := readResponse(conn, corr, resp); err != nil {
			t.Fatal(err)
		}
		got := resp.Topics[0].Partitions[0]
		if got.ErrorCode != 0 || !bytes.Equal(got.RecordBatches, stored) {
			t.Fatalf("fetch %d: error %d, %d record bytes (want the %d stored), equal %v", corr, got.ErrorCode, len(got.RecordBatches), len(stored), bytes.Equal(got.RecordBatches, stored))
		}
	}
}
