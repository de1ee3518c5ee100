package pulsarbridge

import (
	"context"
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

// TestConformance runs the storage conformance suite against real Pulsar.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return newBackend(t) })
}
