package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// bomb is a batch claiming one record whose compressed records section
// is one record length prefix of n then n zero bytes: tiny compressed, n
// bytes decompressed.
func bomb(t *testing.T, codec int8, n int) []byte {
	t.Helper()
	raw := Encode(Fields{ProducerID: -1}, []Record{{Value: []byte("x")}})
	data := binary.AppendVarint(nil, int64(n))
	packed, err := compress(codec, append(data, make([]byte, n)...))
	if err != nil {
		t.Fatal(err)
	}
	out := append(raw[:HeaderSize:HeaderSize], packed...)
	setBatchLength(out)
	out[22] = byte(codec) // attributes' low byte
	if err := UpdateCRC(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func setBatchLength(b []byte) {
	n := uint32(len(b) - 12)
	b[8], b[9], b[10], b[11] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
}

func TestCheckRecords(t *testing.T) {
	recs := make([]Record, 100)
	for i := range recs {
		recs[i] = Record{OffsetDelta: int32(i), Key: []byte{byte(i)}, Value: bytes.Repeat([]byte{byte(i)}, 100)}
	}
	plain := Encode(Fields{ProducerID: -1}, recs)
	if err := CheckRecords(plain, 10); err != nil {
		t.Fatalf("uncompressed: %v", err)
	}
	for _, codec := range []int8{CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		raw, err := Recompress(plain, codec, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckRecords(raw, 1<<20); err != nil {
			t.Fatalf("codec %d: valid batch refused: %v", codec, err)
		}
		if err := CheckRecords(raw, 1000); !errors.Is(err, ErrDecompressedTooLarge) {
			t.Fatalf("codec %d: over a 1000-byte limit: %v", codec, err)
		}
		// 8 MiB of zeros under a 1 MiB limit: refused as too large.
		if err := CheckRecords(bomb(t, codec, 8<<20), 1<<20); !errors.Is(err, ErrDecompressedTooLarge) {
			t.Fatalf("codec %d: bomb: %v", codec, err)
		}
		// Zeros: not a record list.
		zeros, err := compress(codec, make([]byte, 1000))
		if err != nil {
			t.Fatal(err)
		}
		z := append(plain[:HeaderSize:HeaderSize], zeros...)
		setBatchLength(z)
		z[22] = byte(codec)
		if err := CheckRecords(z, 1<<20); !errors.Is(err, ErrCorruptMessage) {
			t.Fatalf("codec %d: zeros: %v", codec, err)
		}
	}
	// A count that does not match the records.
	raw, _ := Recompress(plain, CompressionLZ4, 1<<20)
	raw[60]-- // recordCount's low byte: 99
	UpdateCRC(raw)
	if err := CheckRecords(raw, 1<<20); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("record count 99 for 100 records: %v", err)
	}
}
