package recordbatch_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/recordbatch/batchtest"
)

func seedBatches(f *testing.F) {
	for _, c := range codecs {
		b, err := batchtest.Build(batchtest.Spec{Codec: c.codec, RawSnappy: c.rawSnappy, Records: sampleRecords(4)}.NoProducer())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	two := append(batchtest.Simple(2, 5, 1), batchtest.Simple(1, 0, 2)...)
	f.Add(two)
	f.Add([]byte{})
	f.Add(make([]byte, recordbatch.HeaderSize))
}

func FuzzSplit(f *testing.F) {
	seedBatches(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		checkSplit(t, in)
		// The CRC hides everything behind it from the fuzzer: try again
		// with every batch's CRC repaired so the record walk is explored.
		fixed := append([]byte(nil), in...)
		for pos, end := 0, recordbatch.WholeBatches(fixed); pos < end; {
			h, err := recordbatch.PeekHeader(fixed[pos:])
			if err != nil {
				break
			}
			_ = recordbatch.UpdateCRC(fixed[pos:])
			pos += h.Size()
		}
		checkSplit(t, fixed)
	})
}

// checkSplit checks Split's properties on one input.
func checkSplit(t *testing.T, in []byte) {
	t.Helper()
	ps, err := recordbatch.Split(in)
	if err != nil {
		if ps != nil {
			t.Fatal("batches returned with an error")
		}
		return
	}
	// Batches tile the input exactly and each is valid on its own.
	var joined []byte
	for _, p := range ps {
		joined = append(joined, p.Raw...)
		h, err := recordbatch.ValidateProduce(p.Raw)
		if err != nil || h != p.Header {
			t.Fatalf("batch valid in Split but not alone: %v", err)
		}
		if p.Header.RecordCount <= 0 || p.Header.Size() != len(p.Raw) {
			t.Fatalf("bad header %+v", p.Header)
		}
		if p.Header.Compression() == recordbatch.CompressionNone {
			recs, err := recordbatch.DecodeRecords(p.Raw, len(p.Raw))
			if err == nil && len(recs) != int(p.Header.RecordCount) {
				t.Fatalf("decoded %d records, header says %d", len(recs), p.Header.RecordCount)
			}
		}
	}
	if !bytes.Equal(joined, in) {
		t.Fatal("batches do not tile the input")
	}
	if recordbatch.WholeBatches(in) != len(in) {
		t.Fatal("WholeBatches disagrees with Split")
	}
}

func FuzzDecodeRecords(f *testing.F) {
	seedBatches(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 1 << 20
		recs, err := recordbatch.DecodeRecords(in, limit)
		if err != nil {
			return
		}
		h, _ := recordbatch.ParseHeader(in)
		if len(recs) != int(h.RecordCount) {
			t.Fatalf("%d records, header says %d", len(recs), h.RecordCount)
		}
		total := 0
		for _, r := range recs {
			total += len(r.Key) + len(r.Value)
			for _, hd := range r.Headers {
				total += len(hd.Key) + len(hd.Value)
			}
		}
		if total > limit {
			t.Fatalf("decoded %d bytes past the %d limit", total, limit)
		}
	})
}

func BenchmarkSplit(b *testing.B) {
	// A 16 KiB batch of 1 KiB records, as a producer with batch.size=16384
	// sends.
	in := batchtest.Simple(16, 1000, 1)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := recordbatch.Split(in); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzRecompress: recompressing any batch that passes ValidateProduce
// never panics, stays within the limit, and when it succeeds gives a valid
// batch in the asked codec holding the same records.
func FuzzRecompress(f *testing.F) {
	seedBatches(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		fixed := append([]byte(nil), in...)
		if h, err := recordbatch.PeekHeader(fixed); err == nil && h.Size() <= len(fixed) {
			fixed = fixed[:h.Size()]
			_ = recordbatch.UpdateCRC(fixed)
		}
		if _, err := recordbatch.ValidateProduce(fixed); err != nil {
			return
		}
		want, werr := recordbatch.DecodeRecords(fixed, 1<<20)
		for _, name := range []string{"uncompressed", "gzip", "snappy", "lz4", "zstd"} {
			codec, _ := recordbatch.CodecNamed(name)
			out, err := recordbatch.Recompress(fixed, codec, 1<<20)
			if err != nil {
				continue
			}
			h, err := recordbatch.ValidateProduce(out)
			if err != nil || h.Compression() != codec {
				t.Fatalf("%s: recompressed batch invalid (%v) or codec %d", name, err, h.Compression())
			}
			got, gerr := recordbatch.DecodeRecords(out, 1<<20)
			if werr == nil && (gerr != nil || len(got) != len(want)) {
				t.Fatalf("%s: %d records (%v), the original had %d", name, len(got), gerr, len(want))
			}
		}
	})
}

// FuzzFilter: compaction's rewrite of any stored batch never panics, stays
// within the limit, and when it succeeds gives a valid batch with the
// original's offsets holding exactly the kept records.
func FuzzFilter(f *testing.F) {
	seedBatches(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := recordbatch.ParseHeader(in)
		if err != nil || h.Size() > len(in) {
			return
		}
		in = in[:h.Size()]
		out, kept, err := recordbatch.Filter(in, 1<<20, func(off int64, r *recordbatch.Record) bool { return off%2 == 0 && r.Key != nil })
		if err != nil || out == nil {
			return
		}
		oh, err := recordbatch.ParseHeader(out)
		if err != nil || oh.BaseOffset != h.BaseOffset || oh.NextOffset() != h.NextOffset() || int(oh.RecordCount) != kept {
			t.Fatalf("filtered header %+v (%v), original %+v, kept %d", oh, err, h, kept)
		}
		if recs, err := recordbatch.DecodeRecords(out, 1<<20); err != nil || len(recs) != kept {
			t.Fatalf("filtered batch decodes to %d records (%v), kept %d", len(recs), err, kept)
		}
	})
}

// FuzzCheckRecords: the streaming check of a compressed batch never
// panics, and agrees with DecodeRecords on whether the records are a
// whole list of the header's count within the limit.
func FuzzCheckRecords(f *testing.F) {
	seedBatches(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := recordbatch.PeekHeader(in)
		if err != nil || h.Size() > len(in) {
			return
		}
		in = in[:h.Size()]
		err = recordbatch.CheckRecords(in, 1<<20)
		if h.Compression() == recordbatch.CompressionNone {
			if err != nil {
				t.Fatalf("an uncompressed batch was checked: %v", err)
			}
			return
		}
		// CheckRecords bounds memory more tightly than DecodeRecords (a
		// zstd window over 8 MiB is refused before inflating): that
		// refusal is its limit, not a disagreement.
		if errors.Is(err, recordbatch.ErrDecompressedTooLarge) {
			return
		}
		if _, derr := recordbatch.DecodeRecords(in, 1<<20); derr == nil && err != nil {
			t.Fatalf("DecodeRecords reads the batch, CheckRecords refuses it: %v", err)
		}
	})
}
