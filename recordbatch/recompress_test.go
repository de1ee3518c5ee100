package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestRecompress(t *testing.T) {
	var recs []Record
	for i := range 300 { // over one 32 KiB snappy block
		recs = append(recs, Record{OffsetDelta: int32(i), TimestampDelta: int64(i),
			Key: []byte(fmt.Sprintf("k%d", i)), Value: bytes.Repeat([]byte{byte(i)}, 200),
			Headers: []RecordHeader{{Key: "h", Value: []byte("v")}, {Key: "null"}}})
	}
	recs[7].Value = nil
	orig := Encode(Fields{BaseOffset: 0, Attributes: AttrTimestampType, BaseTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_299,
		ProducerID: 42, ProducerEpoch: 3, BaseSequence: 17}, recs)
	oh, _ := ParseHeader(orig)
	for _, name := range []string{"gzip", "snappy", "lz4", "zstd", "uncompressed"} {
		codec, ok := CodecNamed(name)
		if !ok {
			t.Fatalf("codec %s unknown", name)
		}
		got, err := Recompress(orig, codec, 1<<20)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := ValidateProduce(got); err != nil {
			t.Fatalf("%s: the recompressed batch is invalid: %v", name, err)
		}
		h, _ := ParseHeader(got)
		if h.Compression() != codec {
			t.Fatalf("%s: codec %d", name, h.Compression())
		}
		// Every field but the compression bits, length and CRC is kept.
		if h.ProducerID != oh.ProducerID || h.ProducerEpoch != oh.ProducerEpoch || h.BaseSequence != oh.BaseSequence ||
			h.RecordCount != oh.RecordCount || h.MaxTimestamp != oh.MaxTimestamp || h.Attributes&^AttrCompressionMask != oh.Attributes {
			t.Fatalf("%s: header %+v, was %+v", name, h, oh)
		}
		back, err := DecodeRecords(got, 1<<20)
		if err != nil {
			t.Fatalf("%s: decoding: %v", name, err)
		}
		if !reflect.DeepEqual(back, recs) {
			t.Fatalf("%s: records differ after recompression", name)
		}
		// And from there to another codec.
		again, err := Recompress(got, CompressionLZ4, 1<<20)
		if err != nil {
			t.Fatalf("%s → lz4: %v", name, err)
		}
		if back, err := DecodeRecords(again, 1<<20); err != nil || !reflect.DeepEqual(back, recs) {
			t.Fatalf("%s → lz4: records differ (%v)", name, err)
		}
	}
	if same, _ := Recompress(orig, CompressionNone, 1<<20); &same[0] != &orig[0] {
		t.Fatal("a batch already in the codec was copied")
	}
	// Compressed records that do not walk as the header says are refused,
	// not stored in the new codec.
	bad := Encode(Fields{BaseTimestamp: 1}, recs[:3])
	packed, _ := compress(CompressionGzip, bad[HeaderSize:len(bad)-1])
	bad = append(bad[:HeaderSize:HeaderSize], packed...)
	binary.BigEndian.PutUint32(bad[8:], uint32(len(bad)-12))
	binary.BigEndian.PutUint16(bad[21:], uint16(CompressionGzip))
	_ = UpdateCRC(bad)
	if _, err := ValidateProduce(bad); err != nil {
		t.Fatalf("the corrupt gzip batch does not pass ValidateProduce: %v", err)
	}
	if _, err := Recompress(bad, CompressionLZ4, 1<<20); !errors.Is(err, ErrCorruptMessage) {
		t.Fatalf("recompressing corrupt records: %v, want ErrCorruptMessage", err)
	}
	gz, _ := Recompress(orig, CompressionGzip, 1<<20)
	if _, err := Recompress(gz, CompressionLZ4, 1000); !errors.Is(err, ErrDecompressedTooLarge) {
		t.Fatalf("decompressing past the limit: %v, want ErrDecompressedTooLarge", err)
	}
}
