package recordbatch

import "encoding/binary"

// Fields are the batch-level fields Encode writes.
type Fields struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	// Attributes without compression bits: Encode writes uncompressed
	// batches (timestamp type, transactional and control bits are kept).
	Attributes    int16
	BaseTimestamp int64
	MaxTimestamp  int64
	ProducerID    int64 // -1 for a non-idempotent batch
	ProducerEpoch int16
	BaseSequence  int32
}

// Encode builds an uncompressed v2 RecordBatch of records (their offset
// and timestamp deltas are taken as given) with its CRC. It is how batches
// are rebuilt from a store that keeps records one by one.
func Encode(f Fields, records []Record) []byte {
	size := HeaderSize
	for i := range records {
		size += 5 + recordSize(&records[i])
	}
	b := make([]byte, HeaderSize, size)
	for i := range records {
		b = AppendRecord(b, records[i])
	}
	lastDelta := int32(-1)
	if n := len(records); n > 0 {
		lastDelta = records[n-1].OffsetDelta
	}
	be := binary.BigEndian
	be.PutUint64(b[0:], uint64(f.BaseOffset))
	be.PutUint32(b[8:], uint32(len(b)-12))
	be.PutUint32(b[12:], uint32(f.PartitionLeaderEpoch))
	b[16] = Magic
	be.PutUint16(b[21:], uint16(f.Attributes&^AttrCompressionMask))
	be.PutUint32(b[23:], uint32(lastDelta))
	be.PutUint64(b[27:], uint64(f.BaseTimestamp))
	be.PutUint64(b[35:], uint64(f.MaxTimestamp))
	be.PutUint64(b[43:], uint64(f.ProducerID))
	be.PutUint16(b[51:], uint16(f.ProducerEpoch))
	be.PutUint32(b[53:], uint32(f.BaseSequence))
	be.PutUint32(b[57:], uint32(len(records)))
	UpdateCRC(b) // cannot fail: the header is complete
	return b
}

func recordSize(r *Record) int {
	n := 1 + 10 + 5 + 5 + len(r.Key) + 5 + len(r.Value) + 5
	for _, h := range r.Headers {
		n += 5 + len(h.Key) + 5 + len(h.Value)
	}
	return n
}

// AppendRecord appends the v2 encoding of r (length-prefixed).
func AppendRecord(dst []byte, r Record) []byte {
	var body []byte
	body = append(body, 0) // attributes
	body = binary.AppendVarint(body, r.TimestampDelta)
	body = binary.AppendVarint(body, int64(r.OffsetDelta))
	body = appendVarBytes(body, r.Key)
	body = appendVarBytes(body, r.Value)
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, h := range r.Headers {
		body = appendVarBytes(body, []byte(h.Key))
		body = appendVarBytes(body, h.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendVarBytes(dst, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(v)))
	return append(dst, v...)
}
