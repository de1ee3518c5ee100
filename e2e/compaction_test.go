package e2e

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCompactedTopic: a topic created with cleanup.policy=compact refuses
// key-less records with INVALID_RECORD and gives consumers every key's
// latest value at its offset; the background cleaner removes the records
// later ones replaced (a key written 1,000 times keeps its last value), on
// the embedded log and on Pulsar.
func TestCompactedTopic(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		b := startStandalone(t, map[string]string{"logCleanerBackoffMs": "100"})
		checkCompactedTopic(t, b.addr)
		checkCleanerMetrics(t, b)
	})
	t.Run("pulsar", func(t *testing.T) {
		b, _, _ := startOnPulsar(t, map[string]string{"logCleanerBackoffMs": "100"})
		checkCompactedTopic(t, b.addr)
		checkCleanerMetrics(t, b)
	})
}

// checkCleanerMetrics: /metrics counts the cleaner's passes and removals.
func checkCleanerMetrics(t *testing.T, b *broker) {
	t.Helper()
	for _, name := range []string{"kop_log_cleaner_passes_total", "kop_log_cleaner_removed_records_total"} {
		if v, err := metric(t, b, name); err != nil || v == 0 {
			t.Fatalf("/metrics: %s is %d after cleaning (%v)", name, v, err)
		}
	}
}

func checkCompactedTopic(t *testing.T, addr string) {
	ctx := testCtx(t, 3*time.Minute)
	adm := newAdmin(t, addr)
	const topic = "compacted"
	if res, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": ptr("compact"), "segment.bytes": ptr("16384"), "min.cleanable.dirty.ratio": ptr("0.01"),
	}, topic); err != nil || res.Err != nil {
		t.Fatalf("create with cleanup.policy=compact: %v %v", err, res.Err)
	}
	cl := newClient(t, addr, kgo.RecordDeliveryTimeout(time.Minute), kgo.ProducerLinger(0))
	err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("a key-less record on a compacted topic: %v, want INVALID_RECORD", err)
	}

	const n = 1000
	latest := map[string]int{}
	for i := 0; i < n; i += 10 {
		var recs []*kgo.Record
		for j := i; j < i+10; j++ {
			key := "hot"
			if j%2 == 1 {
				key = "key-" + strconv.Itoa(j%7)
			}
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(fmt.Sprintf("%s=%d %0200d", key, j, j))})
			latest[key] = j
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}

	// A consumer from the start sees the compacted view: offsets only
	// grow, every record is the one written at its offset, and each key's
	// latest value is there.
	read := func() map[int64]string { return readCompacted(t, ctx, addr, topic, n, latest) }
	got := read()
	deadline := time.Now().Add(time.Minute)
	for len(got) > n/2 {
		if time.Now().After(deadline) {
			t.Fatalf("the cleaner left %d of %d records after a minute", len(got), n)
		}
		time.Sleep(200 * time.Millisecond)
		got = read()
	}
	hot := 0
	for _, k := range got {
		if k == "hot" {
			hot++
		}
	}
	t.Logf("after cleaning: %d of %d records, %d of the hot key's 500", len(got), n, hot)
}

// readCompacted reads a compacted topic's partition 0 from the start to
// offset end-1 and checks it: offsets only grow, each record's value is
// "key=offset …" as written, and the latest offset of every key is there.
// It returns the keys by offset.
func readCompacted(t *testing.T, ctx context.Context, addr, topic string, end int64, latest map[string]int) map[int64]string {
	t.Helper()
	got := map[int64]string{}
	c := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer c.Close()
	last := int64(-1)
	for last < end-1 {
		fs := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("reading the compacted topic: stuck after offset %d: %v", last, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("fetch: %v", errs[0].Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset <= last {
				t.Fatalf("offset %d after %d", r.Offset, last)
			}
			last = r.Offset
			key, rest, _ := strings.Cut(string(r.Value), "=")
			idx, _ := strconv.Atoi(strings.Fields(rest)[0])
			if key != string(r.Key) || int64(idx) != r.Offset {
				t.Fatalf("offset %d holds %s: %.20s", r.Offset, r.Key, r.Value)
			}
			got[r.Offset] = string(r.Key)
		})
	}
	for key, off := range latest {
		if got[int64(off)] != key {
			t.Fatalf("the latest record of %s (offset %d) is missing", key, off)
		}
	}
	return got
}

// TestCompactionKill9: brokers killed with SIGKILL while their cleaners
// run (every 50 ms, on any dirt) lose no key's latest value, on the
// embedded log and on Pulsar.
func TestCompactionKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	extra := map[string]string{"logCleanerBackoffMs": "50"}
	t.Run("embedded", func(t *testing.T) { checkCompactionKill9(t, startStandalone(t, extra)) })
	t.Run("pulsar", func(t *testing.T) {
		b, _, _ := startOnPulsar(t, extra)
		checkCompactionKill9(t, b)
	})
}

func checkCompactionKill9(t *testing.T, b *broker) {
	ctx := testCtx(t, 4*time.Minute)
	const topic = "compacted-kill9"
	adm := newAdmin(t, b.addr)
	if res, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": ptr("compact"), "segment.bytes": ptr("8192"), "min.cleanable.dirty.ratio": ptr("0.01"),
	}, topic); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	latest := map[string]int{}
	next := 0
	for round := 0; round < 4; round++ {
		cl := newClient(t, b.addr, kgo.RecordDeliveryTimeout(time.Minute))
		for i := 0; i < 20; i++ {
			var recs []*kgo.Record
			for j := 0; j < 15; j++ {
				key := "key-" + strconv.Itoa((next*7)%40)
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(fmt.Sprintf("%s=%d %0100d", key, next, next))})
				latest[key] = next
				next++
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("round %d: produce: %v", round, err)
			}
		}
		cl.Close()
		b.kill9()
		b.start()
	}
	// And the cleaner goes on after the kills.
	deadline := time.Now().Add(time.Minute)
	for {
		got := readCompacted(t, ctx, b.addr, topic, int64(next), latest)
		if len(got) < next/2 {
			t.Logf("%d of %d records left after 4 kills", len(got), next)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cleaner left %d of %d records a minute after the last restart", len(got), next)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
