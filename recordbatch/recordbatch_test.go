package recordbatch_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/recordbatch/batchtest"
)

var codecs = []struct {
	name      string
	codec     int8
	rawSnappy bool
}{
	{"none", recordbatch.CompressionNone, false},
	{"gzip", recordbatch.CompressionGzip, false},
	{"snappy-xerial", recordbatch.CompressionSnappy, false},
	{"snappy-raw", recordbatch.CompressionSnappy, true},
	{"lz4", recordbatch.CompressionLZ4, false},
	{"zstd", recordbatch.CompressionZstd, false},
}

// sampleRecords exercises nulls, empty values, headers and timestamp deltas.
func sampleRecords(n int) []recordbatch.Record {
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		r := recordbatch.Record{OffsetDelta: int32(i), TimestampDelta: int64(i * 7)}
		switch i % 3 {
		case 0:
			r.Key = []byte(fmt.Sprintf("key-%d", i))
			r.Value = bytes.Repeat([]byte{byte(i)}, 100+i)
			r.Headers = []recordbatch.RecordHeader{{Key: "h1", Value: []byte("v1")}, {Key: "h2", Value: nil}}
		case 1:
			r.Value = []byte{}
		case 2:
			r.Key = []byte{}
		}
		recs[i] = r
	}
	return recs
}

func build(t testing.TB, s batchtest.Spec) []byte {
	t.Helper()
	b, err := batchtest.Build(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseHeaderFields(t *testing.T) {
	b := build(t, batchtest.Spec{
		BaseOffset: 42, PartitionLeaderEpoch: 7, Codec: recordbatch.CompressionNone,
		Attributes: recordbatch.AttrTransactional, BaseTimestamp: 1000,
		ProducerID: 9, ProducerEpoch: 3, BaseSequence: 11, Records: sampleRecords(5),
	})
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	want := recordbatch.Header{
		BaseOffset: 42, BatchLength: int32(len(b) - 12), PartitionLeaderEpoch: 7, Magic: 2,
		CRC: h.CRC, Attributes: recordbatch.AttrTransactional, LastOffsetDelta: 4,
		BaseTimestamp: 1000, MaxTimestamp: 1028, ProducerID: 9, ProducerEpoch: 3,
		BaseSequence: 11, RecordCount: 5,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	if h.Size() != len(b) || h.NextOffset() != 47 || !h.IsTransactional() || h.IsControl() || !h.HasProducer() {
		t.Fatalf("accessors wrong: %+v", h)
	}
	if err := recordbatch.VerifyCRC(b); err != nil {
		t.Fatal(err)
	}
}

func TestSplitValid(t *testing.T) {
	var all []byte
	var sizes []int
	for _, c := range codecs {
		b := build(t, batchtest.Spec{Codec: c.codec, RawSnappy: c.rawSnappy, Records: sampleRecords(20)}.NoProducer())
		all = append(all, b...)
		sizes = append(sizes, len(b))
	}
	ps, err := recordbatch.Split(all)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != len(codecs) {
		t.Fatalf("got %d batches, want %d", len(ps), len(codecs))
	}
	pos := 0
	for i, p := range ps {
		if len(p.Raw) != sizes[i] || &p.Raw[0] != &all[pos] {
			t.Fatalf("batch %d: raw is not the input sub-slice", i)
		}
		if p.Header.RecordCount != 20 || p.Header.Compression() != codecs[i].codec {
			t.Fatalf("batch %d: header %+v", i, p.Header)
		}
		pos += sizes[i]
	}
}

// mutate returns a copy of b changed by fn, with the CRC fixed when fixCRC.
func mutate(t *testing.T, b []byte, fixCRC bool, fn func([]byte) []byte) []byte {
	t.Helper()
	c := fn(append([]byte(nil), b...))
	if fixCRC {
		if err := recordbatch.UpdateCRC(c); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func TestSplitErrors(t *testing.T) {
	good := batchtest.Simple(3, 10, 1000)
	be := binary.BigEndian
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, recordbatch.ErrInvalidRecord},
		{"short header", good[:40], recordbatch.ErrCorruptMessage},
		{"truncated body", good[:len(good)-1], recordbatch.ErrCorruptMessage},
		{"trailing partial batch", append(append([]byte(nil), good...), good[:70]...), recordbatch.ErrCorruptMessage},
		{"trailing garbage", append(append([]byte(nil), good...), 1, 2, 3), recordbatch.ErrCorruptMessage},
		{"crc mismatch", mutate(t, good, false, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), recordbatch.ErrCorruptMessage},
		{"crc field wrong", mutate(t, good, false, func(b []byte) []byte { b[17] ^= 0x80; return b }), recordbatch.ErrCorruptMessage},
		{"magic 1", mutate(t, good, false, func(b []byte) []byte { b[16] = 1; return b }), recordbatch.ErrUnsupportedMagic},
		{"magic 0 short", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 0, 0, 0, 0, 0}, recordbatch.ErrUnsupportedMagic},
		{"batchLength too small", mutate(t, good, false, func(b []byte) []byte { be.PutUint32(b[8:], 48); return b }), recordbatch.ErrCorruptMessage},
		{"batchLength negative", mutate(t, good, false, func(b []byte) []byte { be.PutUint32(b[8:], 0xffffffff); return b }), recordbatch.ErrCorruptMessage},
		{"batchLength huge", mutate(t, good, false, func(b []byte) []byte { be.PutUint32(b[8:], 0x7fffffff); return b }), recordbatch.ErrCorruptMessage},
		{"count too high", mutate(t, good, true, func(b []byte) []byte { be.PutUint32(b[57:], 4); be.PutUint32(b[23:], 3); return b }), recordbatch.ErrInvalidRecord},
		{"count too low", mutate(t, good, true, func(b []byte) []byte { be.PutUint32(b[57:], 2); be.PutUint32(b[23:], 1); return b }), recordbatch.ErrInvalidRecord},
		{"count negative", mutate(t, good, true, func(b []byte) []byte { be.PutUint32(b[57:], 0xffffffff); return b }), recordbatch.ErrInvalidRecord},
		{"lastOffsetDelta mismatch", mutate(t, good, true, func(b []byte) []byte { be.PutUint32(b[23:], 5); return b }), recordbatch.ErrInvalidRecord},
		{"zero records", build(t, batchtest.Spec{}.NoProducer()), recordbatch.ErrInvalidRecord},
		{"control batch", build(t, batchtest.Spec{Attributes: recordbatch.AttrControl, Records: sampleRecords(1)}), recordbatch.ErrInvalidRecord},
		{"codec 5", mutate(t, good, true, func(b []byte) []byte { b[22] |= 5; return b }), recordbatch.ErrUnsupportedCompression},
		{"record length oversized", mutate(t, good, true, func(b []byte) []byte { b[61] = 0x7e; return b }), recordbatch.ErrCorruptMessage},
		{"record length undersized", mutate(t, good, true, func(b []byte) []byte { b[61] -= 2; return b }), recordbatch.ErrCorruptMessage},
		{"record length negative", mutate(t, good, true, func(b []byte) []byte { b[61] = 0x01; return b }), recordbatch.ErrCorruptMessage},
		{"record length bad varint", mutate(t, good, true, func(b []byte) []byte {
			for i := 61; i < len(b); i++ {
				b[i] = 0xff
			}
			return b
		}), recordbatch.ErrCorruptMessage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := recordbatch.Split(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("Split: %v, want %v", err, c.want)
			}
		})
	}
}

func TestValidateProduce(t *testing.T) {
	good := batchtest.Simple(3, 10, 1000)
	if _, err := recordbatch.ValidateProduce(good); err != nil {
		t.Fatal(err)
	}
	if _, err := recordbatch.ValidateProduce(append(good, 0)); !errors.Is(err, recordbatch.ErrCorruptMessage) {
		t.Fatalf("extra byte: %v", err)
	}
}

func TestRewrites(t *testing.T) {
	b := batchtest.Simple(4, 10, 1000)
	recordbatch.SetBaseOffset(b, 1234)
	recordbatch.SetPartitionLeaderEpoch(b, 9)
	if err := recordbatch.VerifyCRC(b); err != nil {
		t.Fatalf("baseOffset/epoch rewrite broke the CRC: %v", err)
	}
	if err := recordbatch.SetLogAppendTime(b, 5555); err != nil {
		t.Fatal(err)
	}
	if err := recordbatch.VerifyCRC(b); err != nil {
		t.Fatalf("SetLogAppendTime left a bad CRC: %v", err)
	}
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 1234 || h.PartitionLeaderEpoch != 9 || h.MaxTimestamp != 5555 ||
		h.Attributes&recordbatch.AttrTimestampType == 0 || h.BaseTimestamp != 1000 {
		t.Fatalf("header after rewrites: %+v", h)
	}
	// Short input: no panic, no change, error where one can be returned.
	short := []byte{1, 2, 3}
	recordbatch.SetBaseOffset(short, 1)
	recordbatch.SetPartitionLeaderEpoch(short, 1)
	if err := recordbatch.SetLogAppendTime(short, 1); err == nil || !bytes.Equal(short, []byte{1, 2, 3}) {
		t.Fatalf("short input: err %v, bytes %v", err, short)
	}
	if err := recordbatch.SetLogAppendTime(b[:len(b)-1], 1); err == nil {
		t.Fatal("SetLogAppendTime accepted a truncated batch")
	}
}

func TestDecodeRecordsCodecs(t *testing.T) {
	want := sampleRecords(50)
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			b := build(t, batchtest.Spec{Codec: c.codec, RawSnappy: c.rawSnappy, BaseTimestamp: 100, Records: want}.NoProducer())
			if _, err := recordbatch.Split(b); err != nil {
				t.Fatalf("Split: %v", err)
			}
			got, err := recordbatch.DecodeRecords(b, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for i := range want {
				if err := sameRecord(got[i], want[i]); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
			}
		})
	}
}

func sameRecord(a, b recordbatch.Record) error {
	if a.OffsetDelta != b.OffsetDelta || a.TimestampDelta != b.TimestampDelta {
		return fmt.Errorf("deltas %d/%d vs %d/%d", a.OffsetDelta, a.TimestampDelta, b.OffsetDelta, b.TimestampDelta)
	}
	if !sameBytes(a.Key, b.Key) || !sameBytes(a.Value, b.Value) {
		return fmt.Errorf("key/value differ: %q/%q vs %q/%q", a.Key, a.Value, b.Key, b.Value)
	}
	if len(a.Headers) != len(b.Headers) {
		return fmt.Errorf("%d headers vs %d", len(a.Headers), len(b.Headers))
	}
	for i := range a.Headers {
		if a.Headers[i].Key != b.Headers[i].Key || !sameBytes(a.Headers[i].Value, b.Headers[i].Value) {
			return fmt.Errorf("header %d differs", i)
		}
	}
	return nil
}

// sameBytes compares including null-ness.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func TestDecodeRecordsBounded(t *testing.T) {
	// 64 records of 4 KiB of one repeated byte compress to almost nothing
	// but decompress to 256 KiB.
	recs := make([]recordbatch.Record, 64)
	for i := range recs {
		recs[i] = recordbatch.Record{OffsetDelta: int32(i), Value: bytes.Repeat([]byte{'x'}, 4096)}
	}
	for _, c := range codecs[1:] {
		t.Run(c.name, func(t *testing.T) {
			b := build(t, batchtest.Spec{Codec: c.codec, RawSnappy: c.rawSnappy, Records: recs}.NoProducer())
			if _, err := recordbatch.DecodeRecords(b, 64<<10); !errors.Is(err, recordbatch.ErrDecompressedTooLarge) {
				t.Fatalf("DecodeRecords with a 64 KiB cap: %v", err)
			}
			if got, err := recordbatch.DecodeRecords(b, 1<<20); err != nil || len(got) != 64 {
				t.Fatalf("DecodeRecords with a 1 MiB cap: %d records, %v", len(got), err)
			}
		})
	}
}

func TestDecodeRecordsCorrupt(t *testing.T) {
	good := build(t, batchtest.Spec{Records: sampleRecords(3)}.NoProducer())
	be := binary.BigEndian
	cases := map[string][]byte{
		"count mismatch":      mutate(t, good, true, func(b []byte) []byte { be.PutUint32(b[57:], 4); return b }),
		"key length negative": mutate(t, good, true, func(b []byte) []byte { b[66] = 0x7f; return b }),
		"record trailing bytes": func() []byte {
			// A record whose length covers one byte more than its fields.
			var body []byte
			rec := batchtest.AppendRecord(nil, recordbatch.Record{Value: []byte("v")})
			rec = append(rec, 0)
			rec[0] += 2 // zigzag: length+1
			body = append(body, rec...)
			b := append(good[:recordbatch.HeaderSize:recordbatch.HeaderSize], body...)
			be.PutUint32(b[8:], uint32(len(b)-12))
			be.PutUint32(b[57:], 1)
			be.PutUint32(b[23:], 0)
			_ = recordbatch.UpdateCRC(b)
			return b
		}(),
		"garbage gzip": mutate(t, good, true, func(b []byte) []byte { b[22] |= byte(recordbatch.CompressionGzip); return b }),
		"garbage lz4":  mutate(t, good, true, func(b []byte) []byte { b[22] |= byte(recordbatch.CompressionLZ4); return b }),
		"garbage zstd": mutate(t, good, true, func(b []byte) []byte { b[22] |= byte(recordbatch.CompressionZstd); return b }),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := recordbatch.DecodeRecords(b, 1<<20)
			if !errors.Is(err, recordbatch.ErrCorruptMessage) && !errors.Is(err, recordbatch.ErrInvalidRecord) {
				t.Fatalf("DecodeRecords: %v", err)
			}
		})
	}
	bad := mutate(t, good, true, func(b []byte) []byte { b[22] |= 6; return b })
	if _, err := recordbatch.DecodeRecords(bad, 1<<20); !errors.Is(err, recordbatch.ErrUnsupportedCompression) {
		t.Fatalf("codec 6: %v", err)
	}
}

func TestIterate(t *testing.T) {
	var all []byte
	for i := range 5 {
		b := batchtest.Simple(i+1, 20, 1000)
		recordbatch.SetBaseOffset(b, int64(i*10))
		all = append(all, b...)
	}
	var bases []int64
	if err := recordbatch.Iterate(all, func(h recordbatch.Header, raw []byte) bool {
		bases = append(bases, h.BaseOffset)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(bases) != "[0 10 20 30 40]" {
		t.Fatalf("bases %v", bases)
	}
	// Early stop.
	n := 0
	_ = recordbatch.Iterate(all, func(recordbatch.Header, []byte) bool { n++; return n < 2 })
	if n != 2 {
		t.Fatalf("fn called %d times after returning false", n)
	}
	// Truncated tail: whole batches first, then the error.
	n = 0
	err := recordbatch.Iterate(all[:len(all)-5], func(recordbatch.Header, []byte) bool { n++; return true })
	if !errors.Is(err, recordbatch.ErrCorruptMessage) || n != 4 {
		t.Fatalf("truncated: %d batches, %v", n, err)
	}
	if got := recordbatch.WholeBatches(all[:len(all)-5]); got != len(all)-len(batchtest.Simple(5, 20, 1000)) {
		t.Fatalf("WholeBatches = %d", got)
	}
	if got := recordbatch.WholeBatches(all); got != len(all) {
		t.Fatalf("WholeBatches(all) = %d, want %d", got, len(all))
	}
	// CRC: Iterate ignores it, IterateVerified stops at the bad batch.
	bad := append([]byte(nil), all...)
	bad[len(bad)-1] ^= 0xff
	if err := recordbatch.Iterate(bad, func(recordbatch.Header, []byte) bool { return true }); err != nil {
		t.Fatalf("Iterate checked the CRC: %v", err)
	}
	n = 0
	err = recordbatch.IterateVerified(bad, func(recordbatch.Header, []byte) bool { n++; return true })
	if !errors.Is(err, recordbatch.ErrCorruptMessage) || n != 4 {
		t.Fatalf("IterateVerified: %d batches, %v", n, err)
	}
}

func TestCountRecords(t *testing.T) {
	one := batchtest.Simple(3, 10, 1000)
	two := batchtest.Simple(5, 10, 1000)
	all := append(append([]byte(nil), one...), two...)
	if n := recordbatch.CountRecords(all); n != 8 {
		t.Fatalf("CountRecords of 3+5 records = %d", n)
	}
	if n := recordbatch.CountRecords(all[:len(all)-1]); n != 3 {
		t.Fatalf("CountRecords with a partial last batch = %d, want 3", n)
	}
	if n := recordbatch.CountRecords(nil); n != 0 {
		t.Fatalf("CountRecords(nil) = %d", n)
	}
}
