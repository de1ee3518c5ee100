package pulsarbridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/storagetest"
)

// TestCompaction runs the compaction conformance suite on Pulsar, with
// both entry formats.
func TestCompaction(t *testing.T) {
	storagetest.RunCompaction(t, func(t *testing.T) storage.Backend { return newBackend(t) })
}

func TestCompactionPulsarFormat(t *testing.T) {
	storagetest.RunCompaction(t, func(t *testing.T) storage.Backend { return pulsarFormat{newBackend(t)} })
}

// writeFiveKeys appends n one-record batches over the keys k0…k4.
func writeFiveKeys(t *testing.T, l storage.PartitionLog, n int) {
	t.Helper()
	ts := time.Now().UnixMilli()
	for i := 0; i < n; i++ {
		storagetest.AppendKeyed(t, l, recordbatch.CompressionNone, ts, []storagetest.KV{{Key: "k" + strconv.Itoa(i%5), Value: []byte(strconv.Itoa(i))}})
	}
}

// TestCompactionDiesBeforeCommit: a pass that fails after writing its
// side topic but before its commit changes nothing: every record is read
// as before, the side topic is gone, and the next pass cleans.
func TestCompactionDiesBeforeCommit(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tp := storage.TopicPartition{Topic: fmt.Sprintf("compact-crash-%d", time.Now().UnixNano())}
	pl, err := storagetest.Open(ctx, b, tp, storagetest.CompactConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	writeFiveKeys(t, pl, 100)
	l := pl.(*partitionLog)
	boom := errors.New("the broker died here")
	l.beforeCompactCommit = func() error { return boom }
	if _, err := l.Compact(ctx); !errors.Is(err, boom) {
		t.Fatalf("the pass: %v, want it to die before its commit", err)
	}
	if n := len(storagetest.ReadRecords(t, pl)); n != 100 {
		t.Fatalf("%d records after a pass that did not commit, want 100", n)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		sides, err := b.sideTopics(ctx, l.topic)
		if err != nil {
			t.Fatal(err)
		}
		if len(sides) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the uncommitted side topic is still there after a minute: %v", sides)
		}
		time.Sleep(100 * time.Millisecond)
	}
	l.beforeCompactCommit = nil
	if st := storagetest.Compact(t, pl); st.CleanedTo != 100 || len(storagetest.ReadRecords(t, pl)) != 5 {
		t.Fatalf("the next pass: %+v", st)
	}
	// Deleting the topic deletes its side topic too.
	pl.Close()
	if err := b.DeleteTopic(ctx, tp.Topic); err != nil {
		t.Fatal(err)
	}
	if sides, err := b.sideTopics(ctx, l.topic); err != nil || len(sides) != 0 {
		t.Fatalf("side topics after deleting the topic: %v %v", sides, err)
	}
}

// TestCompactionTrims: on a topic compacted without delete, the cleaned
// entries of the partition's Pulsar topic are given back to Pulsar (its
// trimming subscription moves past them, Pulsar deletes their ledgers),
// and a reopened log reads the compacted view from the side topic with
// the log start unchanged.
func TestCompactionTrims(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tp := storage.TopicPartition{Topic: fmt.Sprintf("compact-trim-%d", time.Now().UnixNano())}
	pl, err := storagetest.Open(ctx, b, tp, storagetest.CompactConfig())
	if err != nil {
		t.Fatal(err)
	}
	l := pl.(*partitionLog)
	writeFiveKeys(t, pl, 100)
	before, err := b.admin.Topics().GetInternalStatsWithContext(ctx, l.tn)
	if err != nil || len(before.Ledgers) == 0 {
		t.Fatalf("internal stats: %v %+v", err, before)
	}
	firstLedger := before.Ledgers[0].LedgerID
	// A ledger boundary: the entries written so far are in a closed
	// ledger Pulsar can delete once the subscription is past it.
	if err := b.admin.Topics().UnloadWithContext(ctx, l.tn); err != nil {
		t.Fatal(err)
	}
	writeFiveKeys(t, pl, 10)
	st := storagetest.Compact(t, pl)
	if st.CleanedTo != 110 {
		t.Fatalf("cleaned to %d, want 110", st.CleanedTo)
	}
	want := storagetest.ReadRecords(t, pl)
	if len(want) != 5 {
		t.Fatalf("%d records after cleaning, want 5", len(want))
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		stats, err := b.admin.Topics().GetInternalStatsWithContext(ctx, l.tn)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := stats.Cursors[trimSubscription]
		if !ok {
			t.Fatalf("no %s subscription: %+v", trimSubscription, stats.Cursors)
		}
		if len(stats.Ledgers) > 0 && stats.Ledgers[0].LedgerID != firstLedger {
			break // the ledger of the first 100 entries is gone
		}
		if time.Now().After(deadline) {
			t.Fatalf("Pulsar kept the cleaned ledger for two minutes: ledgers %+v, cursor at %s", stats.Ledgers, c.MarkDeletePosition)
		}
		// Unloading closes the current ledger and makes Pulsar trim
		// consumed ones.
		_ = b.admin.Topics().UnloadWithContext(ctx, l.tn)
		time.Sleep(2 * time.Second)
	}
	pl.Close()
	b2 := newBackend(t)
	defer b2.Close()
	pl, err = storagetest.Open(ctx, b2, tp, storagetest.CompactConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	if pl.LogStartOffset() != 0 || pl.LogEndOffset() != 110 {
		t.Fatalf("reopened after trimming: [%d, %d), want [0, 110)", pl.LogStartOffset(), pl.LogEndOffset())
	}
	got := storagetest.ReadRecords(t, pl)
	if len(got) != len(want) {
		t.Fatalf("after trimming and reopening: %v, want %v", got, want)
	}
	for off, r := range want {
		if g := got[off]; g.Key != r.Key || string(g.Value) != string(r.Value) {
			t.Fatalf("offset %d: %v, want %v", off, g, r)
		}
	}
}
