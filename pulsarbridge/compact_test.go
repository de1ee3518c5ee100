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
	ts := time.Now().UnixMilli()
	for i := 0; i < 100; i++ {
		storagetest.AppendKeyed(t, pl, recordbatch.CompressionNone, ts, []storagetest.KV{{Key: "k" + strconv.Itoa(i%5), Value: []byte(strconv.Itoa(i))}})
	}
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
