package recordbatch

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// CodecNamed maps a topic's compression.type codec name to its id.
func CodecNamed(name string) (int8, bool) {
	switch name {
	case "uncompressed":
		return CompressionNone, true
	case "gzip":
		return CompressionGzip, true
	case "snappy":
		return CompressionSnappy, true
	case "lz4":
		return CompressionLZ4, true
	case "zstd":
		return CompressionZstd, true
	}
	return 0, false
}

// Recompress returns the whole batch raw with its records compressed by
// codec instead (as a topic's compression.type asks), every other header
// field kept and the CRC recomputed; raw itself when it already uses
// codec. Decompressed records larger than maxBytes are refused with
// ErrDecompressedTooLarge, records that do not walk as the header says
// with ErrCorruptMessage or ErrInvalidRecord. raw must have passed
// ValidateProduce.
func Recompress(raw []byte, codec int8, maxBytes int) ([]byte, error) {
	h, err := ParseHeader(raw)
	if err != nil {
		return nil, err
	}
	if h.Compression() == codec {
		return raw, nil
	}
	data, err := decompress(h.Compression(), raw[HeaderSize:h.Size()], maxBytes)
	if err != nil {
		return nil, err
	}
	// The records are checked as an uncompressed batch's are: stored in
	// another codec they must still be a record list of the header's
	// count.
	n, err := countRecords(data)
	if err != nil {
		return nil, err
	}
	if n != int(h.RecordCount) {
		return nil, fmt.Errorf("%w: header says %d records, batch holds %d", ErrInvalidRecord, h.RecordCount, n)
	}
	packed, err := compress(codec, data)
	if err != nil {
		return nil, err
	}
	out := make([]byte, HeaderSize, HeaderSize+len(packed))
	copy(out, raw[:HeaderSize])
	out = append(out, packed...)
	be := binary.BigEndian
	be.PutUint32(out[8:], uint32(len(out)-12))
	attrs := int16(be.Uint16(out[21:]))
	be.PutUint16(out[21:], uint16(attrs&^AttrCompressionMask|int16(codec)))
	if err := UpdateCRC(out); err != nil {
		return nil, err
	}
	return out, nil
}

// snappyBlockSize is the uncompressed size of one xerial-framed snappy
// block, as snappy-java's SnappyOutputStream writes them.
const snappyBlockSize = 32 << 10

// compress compresses a batch's records section with codec, in the
// framings the Java client reads: gzip, xerial-framed snappy (what the
// Java client and broker write), an LZ4 frame, a zstd frame.
func compress(codec int8, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case CompressionNone:
		return data, nil
	case CompressionGzip:
		zw := gzip.NewWriter(&buf)
		if _, err := zw.Write(data); err != nil {
			return nil, fmt.Errorf("recordbatch: gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("recordbatch: gzip: %w", err)
		}
	case CompressionSnappy:
		buf.Write(xerialMagic)
		var v [8]byte
		binary.BigEndian.PutUint32(v[0:], 1) // version
		binary.BigEndian.PutUint32(v[4:], 1) // compatible version
		buf.Write(v[:])
		for p := data; len(p) > 0; {
			n := min(len(p), snappyBlockSize)
			block := snappy.Encode(nil, p[:n])
			var l [4]byte
			binary.BigEndian.PutUint32(l[:], uint32(len(block)))
			buf.Write(l[:])
			buf.Write(block)
			p = p[n:]
		}
	case CompressionLZ4:
		zw := lz4.NewWriter(&buf)
		if _, err := zw.Write(data); err != nil {
			return nil, fmt.Errorf("recordbatch: lz4: %w", err)
		}
		if err := zw.Close(); err != nil {
			return nil, fmt.Errorf("recordbatch: lz4: %w", err)
		}
	case CompressionZstd:
		zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("recordbatch: zstd: %w", err)
		}
		defer zw.Close()
		return zw.EncodeAll(data, nil), nil
	default:
		return nil, fmt.Errorf("%w: codec id %d", ErrUnsupportedCompression, codec)
	}
	return buf.Bytes(), nil
}
