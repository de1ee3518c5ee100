package coordinator

import (
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// fakeClock is a Clock that moves only when Advance is called; due
// timers then run in the caller's goroutine, in deadline order. A timer
// of zero or less runs at once in its own goroutine, as time.AfterFunc's.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c     *fakeClock
	at    time.Time
	f     func()
	state int // 0 pending, 1 stopped, 2 fired
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.UnixMilli(1_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	if d <= 0 {
		t.state = 2
		go f()
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.state != 0 {
		return false
	}
	t.state = 1
	return true
}

// Advance moves the clock by d and runs the timers that came due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.state != 0:
		case !t.at.After(c.now):
			t.state = 2
			due = append(due, t)
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	c.mu.Unlock()
	slices.SortFunc(due, func(a, b *fakeTimer) int { return a.at.Compare(b.at) })
	for _, t := range due {
		t.f()
	}
}

// TestSessionExpiryManualClock: with the clock in the test's hands, a
// member's session lasts exactly its timeout from its last heartbeat —
// no sleeping, no timing margins.
func TestSessionExpiryManualClock(t *testing.T) {
	clock := newFakeClock()
	c := New(newFakeStore(), Config{
		MinSessionTimeout: time.Second,
		MaxSessionTimeout: time.Minute,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock:             clock,
	})
	c.Start()
	t.Cleanup(c.Close)
	waitActive(t, c)
	m, gen := stableGroupWithSession(t, c, "g", 6000)
	for i := 0; i < 3; i++ {
		clock.Advance(5 * time.Second) // within the 6 s session
		wantCode(t, "heartbeat within the session", heartbeat(c, "g", m, gen), nil)
	}
	clock.Advance(5999 * time.Millisecond)
	wantCode(t, "heartbeat 1 ms before the session ends", heartbeat(c, "g", m, gen), nil)
	clock.Advance(6 * time.Second)
	wantCode(t, "heartbeat after the session ended", heartbeat(c, "g", m, gen), kerr.UnknownMemberID)
	// The commit time comes from the clock too.
	if got := clock.Now(); got.UnixMilli() != 1_000_000+3*5000+5999+6000 {
		t.Fatalf("clock at %d", got.UnixMilli())
	}
}
