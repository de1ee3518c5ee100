package pulsarbridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/kop-project/kop/internal/pulsartest"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/storagetest"
)

var testPulsar *pulsartest.Pulsar

func TestMain(m *testing.M) {
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
