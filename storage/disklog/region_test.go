package disklog_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/storagetest"
)

// TestReadRegion: a region holds whole batches, starts with the batch Read
// starts with, is a prefix of what Read returns within the same limit (at
// least one batch), spans the offsets it says, and keeps its segment open
// until released. Compacted logs are left to Read.
func TestReadRegion(t *testing.T) {
	e := newEnv(t)
	cfg := storagetest.Config()
	cfg.SegmentBytes = 64 << 10
	cfg.IndexIntervalBytes = 1024
	l := e.open(cfg)
	for i := range 200 {
		appendN(t, l, 0, 1+i%7, 50+(i*37)%900, 1)
	}
	rr, ok := l.(storage.RegionReader)
	if !ok {
		t.Fatal("the embedded log is not a storage.RegionReader")
	}
	ctx := context.Background()
	for offset := int64(0); offset < l.LogEndOffset(); offset += 3 {
		for _, maxBytes := range []int{1, 500, 4096, 20000, 1 << 20} {
			want, err := l.Read(ctx, offset, maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			reg, ok, err := rr.ReadRegion(ctx, offset, maxBytes)
			if err != nil || !ok {
				t.Fatalf("ReadRegion(%d, %d): ok %v, %v", offset, maxBytes, ok, err)
			}
			got := make([]byte, reg.Len)
			if _, err := reg.File.ReadAt(got, reg.Pos); err != nil {
				t.Fatal(err)
			}
			reg.Release()
			if reg.Len == 0 || !bytes.HasPrefix(want.Records, got) {
				t.Fatalf("ReadRegion(%d, %d): %d bytes, not a non-empty prefix of Read's %d", offset, maxBytes, reg.Len, len(want.Records))
			}
			if recordbatch.WholeBatches(got) != len(got) {
				t.Fatalf("ReadRegion(%d, %d): not whole batches", offset, maxBytes)
			}
			first, _ := recordbatch.ParseHeader(got)
			if first.BaseOffset > offset || first.NextOffset() <= offset {
				t.Fatalf("ReadRegion(%d, %d) starts with batch [%d, %d)", offset, maxBytes, first.BaseOffset, first.NextOffset())
			}
			if n := int64(recordbatch.CountRecords(got)); reg.Records != n {
				t.Fatalf("ReadRegion(%d, %d): says %d records, holds %d", offset, maxBytes, reg.Records, n)
			}
			if len(got) > maxBytes && len(got) != int(first.Size()) {
				t.Fatalf("ReadRegion(%d, %d): %d bytes, more than the limit and than its first batch", offset, maxBytes, len(got))
			}
			if reg.HighWatermark != l.LogEndOffset() || reg.LogStartOffset != l.LogStartOffset() {
				t.Fatalf("ReadRegion(%d, %d): log [%d, %d]", offset, maxBytes, reg.LogStartOffset, reg.HighWatermark)
			}
		}
	}
	if reg, ok, err := rr.ReadRegion(ctx, l.LogEndOffset(), 100); err != nil || !ok || reg.Len != 0 || reg.Release != nil {
		t.Fatalf("at the log end: %+v, %v, %v", reg, ok, err)
	}
	if _, _, err := rr.ReadRegion(ctx, l.LogEndOffset()+1, 100); err == nil {
		t.Fatal("past the log end: no error")
	}

	// Regions keep their segment file open through Close.
	reg, _, err := rr.ReadRegion(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	buf := make([]byte, reg.Len)
	if _, err := reg.File.ReadAt(buf, reg.Pos); err != nil {
		t.Fatalf("a region's file closed under it: %v", err)
	}
	reg.Release()

	compacted := storagetest.Config()
	compacted.Compact = true
	c, err := e.b.Open(ctx, storage.TopicPartition{Topic: "compacted"}, compacted)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.(storage.RegionReader).ReadRegion(ctx, 0, 100); ok || err != nil {
		t.Fatalf("compacted log served a region (ok %v, %v)", ok, err)
	}
}
