package recordbatch

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// TestFilter: compaction's rewrite keeps the batch's offsets, timestamps,
// producer fields and codec and exactly the records asked for, in every
// codec; all kept gives the batch itself, none kept gives nil.
func TestFilter(t *testing.T) {
	var recs []Record
	for i := range 50 {
		recs = append(recs, Record{OffsetDelta: int32(i), TimestampDelta: int64(i),
			Key: []byte(fmt.Sprintf("k%d", i%7)), Value: bytes.Repeat([]byte{byte(i)}, 100),
			Headers: []RecordHeader{{Key: "h", Value: []byte("v")}}})
	}
	recs[3].Value = nil // a tombstone
	orig := Encode(Fields{BaseOffset: 1000, PartitionLeaderEpoch: 4, BaseTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_049,
		ProducerID: 42, ProducerEpoch: 3, BaseSequence: 17}, recs)
	oh, _ := ParseHeader(orig)
	keepOdd := func(off int64, r *Record) bool { return off%2 == 1 }
	for _, name := range []string{"uncompressed", "gzip", "snappy", "lz4", "zstd"} {
		codec, _ := CodecNamed(name)
		in, err := Recompress(orig, codec, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		out, kept, err := Filter(in, 1<<20, keepOdd)
		if err != nil || kept != 25 {
			t.Fatalf("%s: kept %d, %v; want 25", name, kept, err)
		}
		if err := VerifyCRC(out); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h, _ := ParseHeader(out)
		if h.Compression() != codec || h.BaseOffset != oh.BaseOffset || h.NextOffset() != oh.NextOffset() ||
			h.PartitionLeaderEpoch != oh.PartitionLeaderEpoch || h.BaseTimestamp != oh.BaseTimestamp || h.MaxTimestamp != oh.MaxTimestamp ||
			h.ProducerID != oh.ProducerID || h.ProducerEpoch != oh.ProducerEpoch || h.BaseSequence != oh.BaseSequence || h.RecordCount != 25 {
			t.Fatalf("%s: header %+v, was %+v", name, h, oh)
		}
		got, err := DecodeRecords(out, 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var want []Record
		for i := 1; i < len(recs); i += 2 {
			want = append(want, recs[i])
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the kept records differ", name)
		}
		if same, n, _ := Filter(in, 1<<20, func(int64, *Record) bool { return true }); n != 50 || &same[0] != &in[0] {
			t.Fatalf("%s: keeping every record copied the batch (kept %d)", name, n)
		}
		if none, n, err := Filter(in, 1<<20, func(int64, *Record) bool { return false }); none != nil || n != 0 || err != nil {
			t.Fatalf("%s: keeping nothing: %d bytes, %d kept, %v", name, len(none), n, err)
		}
	}
	gz, _ := Recompress(orig, CompressionGzip, 1<<20)
	if _, _, err := Filter(gz, 1000, keepOdd); !errors.Is(err, ErrDecompressedTooLarge) {
		t.Fatalf("decompressing past the limit: %v, want ErrDecompressedTooLarge", err)
	}
}

// TestCheckKeys: a compacted topic refuses a batch with any key-less
// record, compressed or not.
func TestCheckKeys(t *testing.T) {
	recs := []Record{{OffsetDelta: 0, Key: []byte("a"), Value: []byte("1")}, {OffsetDelta: 1, Key: []byte("b")}}
	ok := Encode(Fields{BaseTimestamp: 1}, recs)
	if err := CheckKeys(ok, 1<<20); err != nil {
		t.Fatalf("keyed records (one a tombstone): %v", err)
	}
	recs[1].Key = nil
	bad := Encode(Fields{BaseTimestamp: 1}, recs)
	if err := CheckKeys(bad, 1<<20); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("a key-less record: %v, want ErrInvalidRecord", err)
	}
	lz, _ := Recompress(bad, CompressionLZ4, 1<<20)
	if err := CheckKeys(lz, 1<<20); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("a key-less record in an lz4 batch: %v, want ErrInvalidRecord", err)
	}
	if err := CheckKeys(bad[:30], 1<<20); err == nil {
		t.Fatal("a torn batch passed")
	}
}
