package kafkaapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsWorks reports whether conn answers an ApiVersions request.
func apiVersionsWorks(t *testing.T, conn net.Conn, corr int32) error {
	t.Helper()
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(2)
	writeRequest(t, conn, req, corr)
	return readResponse(conn, corr, req.ResponseKind())
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

// lockedBuffer is a log sink the test reads while the server writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestConnectionCaps: connections beyond maxConnectionsPerIp (or
// maxConnections) are closed as they arrive and counted, the others keep
// working, and a closed connection frees its place.
func TestConnectionCaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		why  string
	}{
		{"per-ip", Config{MaxConnectionsPerIP: 2}, "maxConnectionsPerIp"},
		{"total", Config{MaxConnections: 2}, "maxConnections"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &lockedBuffer{}
			s := NewServer(tc.cfg, Deps{}, slog.New(slog.NewTextHandler(logs, nil)))
			first := serve(t, s)
			addr := first.RemoteAddr().String()
			second := dial(t, addr)
			for i, c := range []net.Conn{first, second} {
				if err := apiVersionsWorks(t, c, 1); err != nil {
					t.Fatalf("connection %d under the cap: %v", i+1, err)
				}
			}
			third := dial(t, addr)
			if err := apiVersionsWorks(t, third, 1); err == nil {
				t.Fatal("a connection over the cap was served")
			}
			// The refusal is counted and logged by the accepting goroutine,
			// before it closes the connection.
			for deadline := time.Now().Add(30 * time.Second); s.metrics.refusedN.Load() != 1; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d refused connections counted, want 1", s.metrics.refusedN.Load())
				}
			}
			if !strings.Contains(logs.String(), tc.why) {
				t.Fatalf("the refusal's log does not name %s:\n%s", tc.why, logs.String())
			}
			if err := apiVersionsWorks(t, second, 2); err != nil {
				t.Fatalf("a connection under the cap after the refusal: %v", err)
			}
			// Closing one frees its place (once the server has seen it go).
			first.Close()
			deadline := time.Now().Add(30 * time.Second)
			for {
				c := dial(t, addr)
				if apiVersionsWorks(t, c, 1) == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no connection accepted within 30 s after one under the cap closed")
				}
				time.Sleep(20 * time.Millisecond)
			}
			s.Shutdown(context.Background())
		})
	}
}

// TestSlowSenderDisconnected: a request whose bytes stop arriving after its
// size is dropped with its connection once RequestReadTimeout passes; a
// whole request on another connection is served meanwhile.
func TestSlowSenderDisconnected(t *testing.T) {
	logs := &lockedBuffer{}
	s := NewServer(Config{RequestReadTimeout: 200 * time.Millisecond}, Deps{}, slog.New(slog.NewTextHandler(logs, nil)))
	slow := serve(t, s)
	// A 1,000-byte request of which 10 bytes come.
	if _, err := slow.Write(append([]byte{0, 0, 3, 232}, make([]byte, 10)...)); err != nil {
		t.Fatal(err)
	}
	fast := dial(t, slow.RemoteAddr().String())
	if err := apiVersionsWorks(t, fast, 1); err != nil {
		t.Fatalf("a whole request beside the slow one: %v", err)
	}
	var b [1]byte
	if _, err := slow.Read(b[:]); err == nil {
		t.Fatal("the slow sender's connection answered")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the slow sender's connection was still open after 30 s")
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), "requestReadTimeoutMs"); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log of the slow sender:\n%s", logs.String())
		}
	}
}

// TestRequestBudgetBackPressure: with the broker-wide request budget
// (QueuedMaxRequestBytes) spent by one connection's half-sent request,
// another connection's request is not read until the budget frees up —
// here when the first connection goes away — and is then answered.
func TestRequestBudgetBackPressure(t *testing.T) {
	s := NewServer(Config{MaxRequestBytes: 64 << 10, QueuedMaxRequestBytes: 64 << 10, RequestReadTimeout: time.Minute}, Deps{},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	hog := serve(t, s)
	// A 64 KiB request of which 60 KiB come: its buffer grows to the
	// whole budget.
	if _, err := hog.Write(append([]byte{0, 1, 0, 0}, make([]byte, 60<<10)...)); err != nil {
		t.Fatal(err)
	}
	// Wait until the hog holds the whole budget: nothing else fits.
	for deadline := time.Now().Add(30 * time.Second); s.queued.TryAcquire(1); {
		s.queued.Release(1)
		if time.Now().After(deadline) {
			t.Fatal("the half-sent request never took the budget")
		}
		time.Sleep(5 * time.Millisecond)
	}
	other := dial(t, hog.RemoteAddr().String())
	answered := make(chan error, 1)
	go func() { answered <- apiVersionsWorks(t, other, 1) }()
	for deadline := time.Now().Add(30 * time.Second); testutil.ToFloat64(s.metrics.budgetWaits) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second request never waited for the budget")
		}
	}
	select {
	case err := <-answered:
		t.Fatalf("answered while the budget was spent: %v", err)
	default:
	}
	hog.Close() // its bytes go back
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("after the budget freed up: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("not answered within 30 s of the budget freeing up")
	}
}

// TestRequestBudgetNoDeadlock: two connections that each hold most of
// their share of the budget and need more do not wait for each other
// for ever: a connection waiting for room holds none of the budget and
// waits at most RequestReadTimeout, so both half-sent requests are
// dropped, the budget comes back whole, and a small request is answered.
func TestRequestBudgetNoDeadlock(t *testing.T) {
	s := NewServer(Config{MaxRequestBytes: 64 << 10, QueuedMaxRequestBytes: 96 << 10, RequestReadTimeout: 300 * time.Millisecond}, Deps{},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	first := serve(t, s)
	hogs := []net.Conn{first, dial(t, first.RemoteAddr().String())}
	for _, c := range hogs {
		// 48 KiB of a 64 KiB request each: 96 KiB held, 16 KiB more needed.
		if _, err := c.Write(append([]byte{0, 1, 0, 0}, make([]byte, 48<<10)...)); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range hogs {
		var b [1]byte
		if _, err := c.Read(b[:]); err == nil {
			t.Fatalf("half-sent request %d was answered", i)
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("half-sent request %d's connection still open after 30 s: the waits deadlocked", i)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); !s.queued.TryAcquire(96 << 10); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the dropped requests' budget never came back")
		}
	}
	s.queued.Release(96 << 10)
	if err := apiVersionsWorks(t, dial(t, first.RemoteAddr().String()), 1); err != nil {
		t.Fatalf("a small request after the half-sent ones were dropped: %v", err)
	}
}
