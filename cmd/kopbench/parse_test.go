package main

import (
	"crypto/sha256"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseProducerPerf(t *testing.T) {
	out := "5000 records sent, 999.8 records/sec (0.98 MB/sec), 12.1 ms avg latency, 300.0 ms max latency.\n" +
		"200000 records sent, 10897.400970 records/sec (10.64 MB/sec), 2506.82 ms avg latency, 5372.00 ms max latency, 2604 ms 50th, 4741 ms 95th, 5239 ms 99th, 5344 ms 99.9th.\n"
	r, err := parseProducerPerf([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if r.mibs != 10.64 || r.p50 != 2604*time.Millisecond || r.p99 != 5239*time.Millisecond || r.p999 != 5344*time.Millisecond {
		t.Errorf("parsed %+v", r)
	}
	if _, err := parseProducerPerf([]byte("Exception in thread main\n")); err == nil || !strings.Contains(err.Error(), "no summary") {
		t.Errorf("output without a summary: %v", err)
	}
}

func TestParseConsumerPerf(t *testing.T) {
	out := "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n" +
		"2026-12-03 16:54:45:435, 2026-12-03 16:54:49:106, 195.3125, 53.2042, 200000, 54481.0678, 1557, 2114, 92.3900, 94607.3794\n"
	v, err := parseConsumerPerf([]byte(out), 200000)
	if err != nil {
		t.Fatal(err)
	}
	if v != 92.39 {
		t.Errorf("fetch.MB.sec = %v, want 92.39", v)
	}
	if _, err := parseConsumerPerf([]byte(out), 300000); err == nil || !strings.Contains(err.Error(), "read 200000 of 300000") {
		t.Errorf("short read: %v", err)
	}
	if _, err := parseConsumerPerf([]byte("WARN something\n"), 1); err == nil {
		t.Error("output without a summary parsed")
	}
}

func TestMedianAndSpread(t *testing.T) {
	id := func(v float64) float64 { return v }
	if m := medianOf([]float64{3, 1, 2}, id); m != 2 {
		t.Errorf("median of 3, 1, 2 = %v", m)
	}
	if m := medianOf([]float64{4, 1, 2, 3}, id); m != 2.5 {
		t.Errorf("median of 4, 1, 2, 3 = %v", m)
	}
	if s := spreadOf([]float64{90, 100, 110}, id); s != 20 {
		t.Errorf("spread of 90, 100, 110 = %v%%, want 20%%", s)
	}
	if c := cellf([]float64{90, 100, 110}, id, "%.1f"); c != "100.0 ±20%" {
		t.Errorf("cell = %q", c)
	}
	if c := cellf([]float64(nil), id, "%.1f"); c != "–" {
		t.Errorf("empty cell = %q", c)
	}
}

func TestCPUSecondsOfSelf(t *testing.T) {
	// Burn some CPU: this process's own time must be counted.
	sum := sha256.Sum256(nil)
	for range 200_000 {
		sum = sha256.Sum256(sum[:])
	}
	if s := cpuSeconds([]int{os.Getpid()}); s <= 0 {
		t.Errorf("cpuSeconds(self) = %v", s)
	}
	if s := cpuSeconds([]int{-1}); s != 0 {
		t.Errorf("cpuSeconds of no process = %v", s)
	}
}
