package pulsarbridge

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"

	"github.com/kop-project/kop/internal/pulsartest"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/storagetest"
)

var testPulsar *pulsartest.Pulsar

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run()) // fuzzing a decoder needs no Pulsar
	}
	p, err := pulsartest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting Pulsar:", err)
		os.Exit(1)
	}
	testPulsar = p
	code := m.Run()
	if err := p.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping Pulsar:", err)
	}
	os.Exit(code)
}

func newBackend(t testing.TB) *Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := New(ctx, Options{
		ServiceURL: testPulsar.ServiceURL, WebServiceURL: testPulsar.WebURL,
		Tenant: "kop-test", Namespace: "storage",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformance runs the storage conformance suite against real Pulsar,
// with both entry formats.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return newBackend(t) })
}

func TestConformancePulsarFormat(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return pulsarFormat{newBackend(t)} })
}

// pulsarFormat opens every partition with entryFormat=pulsar.
type pulsarFormat struct{ *Backend }

func (p pulsarFormat) Open(ctx context.Context, tp storage.TopicPartition, cfg storage.TopicConfig) (storage.PartitionLog, error) {
	cfg.EntryFormat = "pulsar"
	return p.Backend.Open(ctx, tp, cfg)
}

// TestBatchOverPulsarMaxMessageSize: a batch Pulsar refuses as too big is
// MESSAGE_TOO_LARGE (not retriable), and the log goes on.
func TestBatchOverPulsarMaxMessageSize(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	ctx := context.Background()
	cfg := storagetest.Config()
	cfg.MaxMessageBytes = 64 << 20
	l, err := b.Open(ctx, storage.TopicPartition{Topic: fmt.Sprintf("big-%d", time.Now().UnixNano()), Partition: 0}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Pulsar's default bookie frame limit is 5 MiB: a 6 MiB batch must
	// get through (deploy/pulsar raises the limits to 12 MiB) ...
	big := storagetest.MakeBatch(t, 1, 6<<20, 1)
	if res, err := l.Append(ctx, 0, []storage.Batch{{Raw: big}}); err != nil || res.BaseOffset != 0 {
		t.Fatalf("append of a 6 MiB batch: %+v, %v", res, err)
	}
	if rr, err := l.Read(ctx, 0, 1); err != nil || len(rr.Records) != len(big) {
		t.Fatalf("read of the 6 MiB batch: %d bytes, %v", len(rr.Records), err)
	}
	// ... and one over 12 MiB is refused as too large.
	huge := storagetest.MakeBatch(t, 1, 13<<20, 1)
	_, err = l.Append(ctx, 0, []storage.Batch{{Raw: huge}})
	if !errors.Is(err, storage.ErrMessageTooLarge) {
		t.Fatalf("append of a 13 MiB batch: %v, want ErrMessageTooLarge", err)
	}
	res, err := l.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 2, 10, 1)}})
	if err != nil || res.BaseOffset != 1 || l.LogEndOffset() != 3 {
		t.Fatalf("append after the refusal: %+v, %v; end %d", res, err, l.LogEndOffset())
	}
}

// TestRetention: Kafka's retention.ms and retention.bytes become the Pulsar
// topic's retention policy, and when Pulsar drops old ledgers the log start
// offset follows.
func TestRetention(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	ctx := context.Background()
	topic := fmt.Sprintf("retention-%d", time.Now().UnixNano())
	cfg := storagetest.Config()
	cfg.RetentionMs, cfg.RetentionBytes = 2*3600*1000+1, 10<<20
	pl, err := b.Open(ctx, storage.TopicPartition{Topic: topic}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := pl.(*partitionLog)
	defer l.Close()
	tn, _ := utils.GetTopicName(b.topicName(topic))
	// Topic policies reach the admin API through Pulsar's system topic,
	// a moment after they are set.
	waitRetention := func(minutes int, mb int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			pol, err := b.admin.Topics().GetRetention(*tn, false)
			if err == nil && pol != nil && pol.RetentionTimeInMinutes == minutes && pol.RetentionSizeInMB == mb {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Pulsar retention %+v, %v; want %d minutes, %d MB", pol, err, minutes, mb)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitRetention(121, 10)
	cfg.RetentionMs, cfg.RetentionBytes = -1, -1
	l.SetConfig(cfg)
	waitRetention(-1, -1)

	// Three batches in a first ledger, two in a second; dropping the
	// first ledger (what retention does) moves the log start to 6.
	for range 3 {
		if _, err := l.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 2, 10, 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	ptn, _ := utils.GetTopicName(l.topic)
	if err := b.admin.Topics().Unload(*ptn); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var err error
		for i := 0; i < 50; i++ { // the producer reconnects after the unload
			if _, err = l.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 2, 10, 1)}}); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(http.MethodDelete, testPulsar.WebURL+"/admin/v2/persistent/kop-test/storage/"+topic+"-partition-0/truncate", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("truncate: %s", resp.Status)
	}
	if err := l.refreshStart(ctx); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 6 || l.LogEndOffset() != 10 {
		t.Fatalf("after the first ledger was dropped: start %d end %d, want 6 10", l.LogStartOffset(), l.LogEndOffset())
	}
	if _, err := l.Read(ctx, 5, 1<<20); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("read below the new start: %v", err)
	}
	if res, err := l.Read(ctx, 6, 1<<20); err != nil || len(res.Records) == 0 {
		t.Fatalf("read at the new start: %v", err)
	}
}

// TestOpenGrowsTopicLeftSmaller: when brokers grow a partitioned topic at
// the same time, Pulsar can end up with fewer partitions than one of them
// believes it made. Opening a partition beyond them looks again and grows
// the topic instead of failing for good.
func TestOpenGrowsTopicLeftSmaller(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	ctx := context.Background()
	topic := fmt.Sprintf("left-smaller-%d", time.Now().UnixNano())
	if err := b.EnsureTopic(ctx, topic, 2); err != nil {
		t.Fatal(err)
	}
	b.topicMu.Lock()
	b.known[topic] = 6 // what a lost concurrent update leaves a broker believing
	b.topicMu.Unlock()
	l, err := b.Open(ctx, storage.TopicPartition{Topic: topic, Partition: 4}, storagetest.Config())
	if err != nil {
		t.Fatalf("open partition 4 of a topic Pulsar has with 2 partitions: %v", err)
	}
	defer l.Close()
	tn, _ := utils.GetTopicName(b.topicName(topic))
	md, err := b.admin.Topics().GetMetadata(*tn)
	if err != nil || md.Partitions < 5 {
		t.Fatalf("partitions after the open: %+v, %v; want at least 5", md, err)
	}
	if _, err := l.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 2, 10, 1)}}); err != nil {
		t.Fatal(err)
	}
}
