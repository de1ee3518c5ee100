package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kop-project/kop/internal/freeport"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	a, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// startNode runs a standalone node in-process on free loopback ports.
func startNode(t *testing.T, dataDir string) *Node {
	t.Helper()
	kafka := freeAddr(t)
	raft := freeAddr(t)
	level := new(slog.LevelVar)
	level.Set(slog.LevelWarn)
	cfg := Config{
		NodeID:                 0,
		Mode:                   "standalone",
		DataDir:                dataDir,
		Listeners:              []Listener{{Name: "PLAINTEXT", Bind: kafka, Advertised: kafka}},
		RaftBind:               raft,
		RaftAdvertised:         raft,
		HTTPAddress:            freeAddr(t),
		AllowAutoTopicCreation: true,
		DefaultNumPartitions:   2,
		TopicDefaults:          map[string]string{},
		Logger:                 slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})),
		LogLevel:               level,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}

func TestNodeServesKafka(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, dir)
	addr := n.KafkaAddrs()[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("auto"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 100; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "auto")
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != 100 || len(ends["auto"]) != 2 {
		t.Fatalf("end offsets %v", ends)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("auto"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := 0
	for got < 100 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d", got)
		}
		got += fs.NumRecords()
	}
	for path, want := range map[string]string{
		"/healthz": "ok",
		"/readyz":  "ready",
		"/metrics": `kop_kafka_requests_total{api="Produce"}`,
	} {
		resp, err := http.Get("http://" + n.cfg.HTTPAddress + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Fatalf("GET %s: %d %q, want %q", path, resp.StatusCode, body, want)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReadyzDuringShutdown: /readyz answers 200 once the broker serves,
// and 503 as soon as a shutdown has begun (Close sets closing first).
func TestReadyzDuringShutdown(t *testing.T) {
	n := startNode(t, t.TempDir())
	get := func() int {
		t.Helper()
		c := http.Client{Timeout: 10 * time.Second}
		resp, err := c.Get("http://" + n.cfg.HTTPAddress + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get(); code != http.StatusOK {
		t.Fatalf("/readyz of a serving broker = %d, want 200", code)
	}
	n.closing.Store(true)
	if code := get(); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz once shutdown began = %d, want 503", code)
	}
}

// TestLogLevelAtRunTime: GET /loglevel says the level, PUT changes the
// logger's level, and a bad level is refused with 400.
func TestLogLevelAtRunTime(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := http.Client{Timeout: 10 * time.Second}
	do := func(method, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+n.cfg.HTTPAddress+"/loglevel", strings.NewReader(body))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := do("GET", ""); code != 200 || body != "warn" {
		t.Fatalf("GET /loglevel = %d %q, want 200 warn", code, body)
	}
	if code, body := do("PUT", "debug\n"); code != 200 || body != "debug" || n.cfg.LogLevel.Level() != slog.LevelDebug {
		t.Fatalf("PUT debug = %d %q, level %v", code, body, n.cfg.LogLevel.Level())
	}
	if !n.log.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("the broker's logger does not log debug after the change")
	}
	if code, _ := do("PUT", "loud"); code != http.StatusBadRequest || n.cfg.LogLevel.Level() != slog.LevelDebug {
		t.Fatalf("PUT loud = %d, level %v; want 400 and no change", code, n.cfg.LogLevel.Level())
	}
}

// TestProfilesServed: the admin endpoint serves Go's profiles, as
// go tool pprof reads them.
func TestProfilesServed(t *testing.T) {
	n := startNode(t, t.TempDir())
	c := http.Client{Timeout: 30 * time.Second}
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/allocs", "/debug/pprof/goroutine?debug=1", "/debug/pprof/profile?seconds=1"} {
		resp, err := c.Get("http://" + n.cfg.HTTPAddress + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(b) == 0 {
			t.Fatalf("GET %s = %d with %d bytes", path, resp.StatusCode, len(b))
		}
	}
}
