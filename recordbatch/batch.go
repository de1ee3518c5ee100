package recordbatch

import (
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
)

// Byte offsets of the header fields inside a batch.
const (
	offBaseOffset      = 0
	offBatchLength     = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// lengthFieldEnd is where batchLength starts counting.
	lengthFieldEnd = 12
	// minBatchLength is the batchLength of a batch with no record bytes.
	minBatchLength = HeaderSize - lengthFieldEnd
	// crcStart is the first byte the CRC covers.
	crcStart = offAttributes
)

// Magic is the only message format version KOP accepts.
const Magic = 2

// Compression codec ids (attributes & AttrCompressionMask).
const (
	CompressionNone   int8 = 0
	CompressionGzip   int8 = 1
	CompressionSnappy int8 = 2
	CompressionLZ4    int8 = 3
	CompressionZstd   int8 = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// PeekHeader decodes the 61-byte header at the start of b without requiring
// the rest of the batch to be present, as a log does when it reads headers
// only. It checks the magic byte, that batchLength covers at least the
// header, that recordCount >= 0 and lastOffsetDelta >= -1. A batch with no
// records is accepted here (Kafka leaves such batches behind after
// compaction); Split, which validates produce requests, refuses it.
func PeekHeader(b []byte) (Header, error) {
	var h Header
	if len(b) > offMagic && int8(b[offMagic]) != Magic {
		return h, fmt.Errorf("%w: magic %d", ErrUnsupportedMagic, int8(b[offMagic]))
	}
	if len(b) < HeaderSize {
		return h, fmt.Errorf("%w: %d bytes, shorter than the %d-byte batch header", ErrCorruptMessage, len(b), HeaderSize)
	}
	h = Header{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		BatchLength:          int32(binary.BigEndian.Uint32(b[offBatchLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		RecordCount:          int32(binary.BigEndian.Uint32(b[offRecordCount:])),
	}
	if h.BatchLength < minBatchLength {
		return h, fmt.Errorf("%w: batchLength %d below the minimum %d", ErrCorruptMessage, h.BatchLength, minBatchLength)
	}
	if h.RecordCount < 0 {
		return h, fmt.Errorf("%w: negative record count %d", ErrInvalidRecord, h.RecordCount)
	}
	if h.LastOffsetDelta < -1 {
		return h, fmt.Errorf("%w: negative lastOffsetDelta %d", ErrInvalidRecord, h.LastOffsetDelta)
	}
	return h, nil
}

// ParseHeader decodes the header of the batch at the start of b and checks
// that the whole batch (batchLength+12 bytes) is present in b. Bytes after
// the batch are ignored. It does not check the CRC (see VerifyCRC) nor the
// records.
func ParseHeader(b []byte) (Header, error) {
	h, err := PeekHeader(b)
	if err != nil {
		return h, err
	}
	if int64(h.BatchLength)+lengthFieldEnd > int64(len(b)) {
		return h, fmt.Errorf("%w: batch of %d bytes truncated to %d", ErrCorruptMessage, int64(h.BatchLength)+lengthFieldEnd, len(b))
	}
	return h, nil
}

// batchSize returns the size the header at b claims, or an error when b is
// too short to hold the header or the batch.
func batchSize(b []byte) (int, error) {
	if len(b) < HeaderSize {
		return 0, fmt.Errorf("%w: %d bytes, shorter than the %d-byte batch header", ErrCorruptMessage, len(b), HeaderSize)
	}
	n := int64(int32(binary.BigEndian.Uint32(b[offBatchLength:]))) + lengthFieldEnd
	if n < HeaderSize || n > int64(len(b)) {
		return 0, fmt.Errorf("%w: batch size %d does not fit %d bytes", ErrCorruptMessage, n, len(b))
	}
	return int(n), nil
}

// CRCStart is where the bytes a batch's CRC covers begin (its attributes).
const CRCStart = crcStart

// NewCRC returns a CRC-32C hash for computing a batch's CRC while
// streaming it: write the batch from CRCStart to its end.
func NewCRC() hash.Hash32 { return crc32.New(castagnoli) }

// ComputeCRC returns the CRC-32C of the batch at the start of b as it should
// be stored in its header.
func ComputeCRC(b []byte) (uint32, error) {
	n, err := batchSize(b)
	if err != nil {
		return 0, err
	}
	return crc32.Checksum(b[crcStart:n], castagnoli), nil
}

// VerifyCRC checks the CRC-32C of the batch at the start of b (bytes
// attributes..end of batch) against its header.
func VerifyCRC(b []byte) error {
	got, err := ComputeCRC(b)
	if err != nil {
		return err
	}
	if want := binary.BigEndian.Uint32(b[offCRC:]); got != want {
		return fmt.Errorf("%w: crc %#08x, header says %#08x", ErrCorruptMessage, got, want)
	}
	return nil
}

// UpdateCRC recomputes the CRC of the batch at the start of b and stores it
// in the header. It returns an error, changing nothing, when b does not hold
// the whole batch.
func UpdateCRC(b []byte) error {
	c, err := ComputeCRC(b)
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint32(b[offCRC:], c)
	return nil
}

// SetBaseOffset rewrites the batch's baseOffset in place. The CRC does not
// cover it. b must hold at least the header; a shorter b is left unchanged.
func SetBaseOffset(b []byte, off int64) {
	if len(b) < HeaderSize {
		return
	}
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetPartitionLeaderEpoch rewrites the batch's partitionLeaderEpoch in
// place. The CRC does not cover it. b must hold at least the header; a
// shorter b is left unchanged.
func SetPartitionLeaderEpoch(b []byte, e int32) {
	if len(b) < HeaderSize {
		return
	}
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(e))
}

// SetLogAppendTime marks the batch as using LogAppendTime, sets its
// maxTimestamp to ts (ms) and recomputes the CRC, as a broker does for a
// topic with message.timestamp.type=LogAppendTime. b must hold the whole
// batch; otherwise it is left unchanged and an error returned.
func SetLogAppendTime(b []byte, ts int64) error {
	if _, err := batchSize(b); err != nil {
		return err
	}
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | AttrTimestampType
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	return UpdateCRC(b)
}

// CountRecords is the number of records the whole batches at the start of
// b hold, by their headers' record counts (a trailing partial batch, as a
// fetch may end with, is not counted).
func CountRecords(b []byte) int {
	n := 0
	for {
		size, err := batchSize(b)
		if err != nil {
			return n
		}
		if c := int32(binary.BigEndian.Uint32(b[offRecordCount:])); c > 0 {
			n += int(c)
		}
		b = b[size:]
	}
}
