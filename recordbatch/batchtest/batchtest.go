// Package batchtest builds valid Kafka v2 RecordBatches for tests and
// benchmarks, compressed with the real codecs when asked. It is a test
// helper: production code must not import it, and it never reads batches.
package batchtest

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/kop-project/kop/recordbatch"
)

// Spec describes a batch to build. Producer fields are written as given:
// use NoProducer for a non-idempotent batch.
type Spec struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	Codec                int8  // recordbatch.Compression*
	RawSnappy            bool  // snappy without xerial framing
	Attributes           int16 // extra attribute bits (transactional, control, timestamp type)
	BaseTimestamp        int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	Records              []recordbatch.Record
}

// NoProducer sets the producer fields of a non-idempotent batch.
func (s Spec) NoProducer() Spec {
	s.ProducerID, s.ProducerEpoch, s.BaseSequence = -1, -1, -1
	return s
}

// Records returns n records with offset deltas 0..n-1, timestamp delta 0, a
// nil key and a valueSize-byte value whose first bytes hold the record's
// index (big-endian uint32) when valueSize >= 4.
func Records(n, valueSize int) []recordbatch.Record {
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		v := make([]byte, valueSize)
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		if valueSize >= 4 {
			binary.BigEndian.PutUint32(v, uint32(i))
		}
		recs[i] = recordbatch.Record{OffsetDelta: int32(i), Value: v}
	}
	return recs
}

// Simple builds an uncompressed, non-idempotent batch of n records of
// valueSize bytes, all with timestamp ts.
func Simple(n, valueSize int, ts int64) []byte {
	b, err := Build(Spec{BaseTimestamp: ts, Records: Records(n, valueSize)}.NoProducer())
	if err != nil {
		panic(err) // cannot happen for the uncompressed codec
	}
	return b
}

// Build encodes the batch: lastOffsetDelta is the last record's offset
// delta (-1 without records), maxTimestamp the base timestamp plus the
// largest timestamp delta, and the CRC is computed.
func Build(s Spec) ([]byte, error) {
	var body []byte
	maxDelta := int64(0)
	for i, r := range s.Records {
		body = AppendRecord(body, r)
		if i == 0 || r.TimestampDelta > maxDelta {
			maxDelta = r.TimestampDelta
		}
	}
	body, err := compress(s.Codec, s.RawSnappy, body)
	if err != nil {
		return nil, err
	}
	lastDelta := int32(-1)
	if n := len(s.Records); n > 0 {
		lastDelta = s.Records[n-1].OffsetDelta
	}
	b := make([]byte, recordbatch.HeaderSize, recordbatch.HeaderSize+len(body))
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(s.BaseOffset))
	be.PutUint32(b[8:], uint32(recordbatch.HeaderSize-12+len(body)))
	be.PutUint32(b[12:], uint32(s.PartitionLeaderEpoch))
	b[16] = recordbatch.Magic
	be.PutUint16(b[21:], uint16(s.Attributes&^recordbatch.AttrCompressionMask|int16(s.Codec)&recordbatch.AttrCompressionMask))
	be.PutUint32(b[23:], uint32(lastDelta))
	be.PutUint64(b[27:], uint64(s.BaseTimestamp))
	be.PutUint64(b[35:], uint64(s.BaseTimestamp+maxDelta))
	be.PutUint64(b[43:], uint64(s.ProducerID))
	be.PutUint16(b[51:], uint16(s.ProducerEpoch))
	be.PutUint32(b[53:], uint32(s.BaseSequence))
	be.PutUint32(b[57:], uint32(len(s.Records)))
	b = append(b, body...)
	if err := recordbatch.UpdateCRC(b); err != nil {
		return nil, err
	}
	return b, nil
}

// AppendRecord appends the v2 encoding of r (length-prefixed).
func AppendRecord(dst []byte, r recordbatch.Record) []byte { return recordbatch.AppendRecord(dst, r) }

func compress(codec int8, rawSnappy bool, data []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch codec {
	case recordbatch.CompressionNone:
		return data, nil
	case recordbatch.CompressionGzip:
		w := gzip.NewWriter(&buf)
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case recordbatch.CompressionSnappy:
		if rawSnappy {
			return snappy.Encode(nil, data), nil
		}
		// snappy-java's SnappyOutputStream: magic, version 1, compatible
		// version 1, then 32 KiB blocks each prefixed by its length.
		buf.Write([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1})
		for len(data) > 0 {
			n := min(len(data), 32<<10)
			blk := snappy.Encode(nil, data[:n])
			buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(blk))))
			buf.Write(blk)
			data = data[n:]
		}
	case recordbatch.CompressionLZ4:
		w := lz4.NewWriter(&buf)
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	case recordbatch.CompressionZstd:
		w, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(data); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("batchtest: unknown codec %d", codec)
	}
	return buf.Bytes(), nil
}
