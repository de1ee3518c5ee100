package recordbatch

// Header is the fixed 61-byte prefix of a v2 (magic 2) RecordBatch, the only
// message format KOP stores. Offsets are those of the Kafka wire format:
//
//	baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 |
//	crc uint32 | attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 |
//	maxTimestamp int64 | producerId int64 | producerEpoch int16 | baseSequence int32 |
//	recordCount int32
//
// The CRC (Castagnoli) covers attributes through the end of the batch, so the
// broker may rewrite baseOffset and partitionLeaderEpoch without recomputing it.
type Header struct {
	BaseOffset           int64
	BatchLength          int32 // bytes after the length field; the whole batch is BatchLength+12 bytes
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// HeaderSize is the size of a v2 batch header; the smallest legal batch.
const HeaderSize = 61

// Attribute bits.
const (
	AttrCompressionMask = 0x07
	AttrTimestampType   = 0x08 // set: LogAppendTime
	AttrTransactional   = 0x10
	AttrControl         = 0x20
)

// Size is the number of bytes the whole batch occupies.
func (h *Header) Size() int { return int(h.BatchLength) + 12 }

// NextOffset is the offset after the batch's last record.
func (h *Header) NextOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) + 1 }

// Compression is the codec id: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
func (h *Header) Compression() int8 { return int8(h.Attributes & AttrCompressionMask) }

// IsTransactional reports the transactional attribute bit.
func (h *Header) IsTransactional() bool { return h.Attributes&AttrTransactional != 0 }

// IsControl reports the control-batch attribute bit.
func (h *Header) IsControl() bool { return h.Attributes&AttrControl != 0 }

// HasProducer reports whether the batch carries an idempotent producer id.
func (h *Header) HasProducer() bool { return h.ProducerID >= 0 }
