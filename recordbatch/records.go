package recordbatch

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Record is one decoded record of a v2 batch. Key, Value and header values
// are nil for null and alias the batch (uncompressed) or the decompressed
// buffer: copy them to keep them past the batch's lifetime.
type Record struct {
	OffsetDelta    int32
	TimestampDelta int64
	Key, Value     []byte
	Headers        []RecordHeader
}

// RecordHeader is one record header; Value nil for null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// DecodeRecords decodes the records of the whole batch raw (header
// included), decompressing them when the batch is compressed; decompressed
// data larger than maxBytes is refused with ErrDecompressedTooLarge (so
// memory is bounded by maxBytes plus the record structs). It checks that
// the records fill the data exactly and that there are recordCount of them,
// not the CRC (call VerifyCRC first for untrusted input).
func DecodeRecords(raw []byte, maxBytes int) ([]Record, error) {
	h, err := ParseHeader(raw)
	if err != nil {
		return nil, err
	}
	data, err := decompress(h.Compression(), raw[HeaderSize:h.Size()], maxBytes)
	if err != nil {
		return nil, err
	}
	// Every record takes at least minRecordSize+1 bytes, so the data
	// bounds the count whatever the header claims.
	capHint := min(int(h.RecordCount), len(data)/(minRecordSize+1))
	recs := make([]Record, 0, capHint)
	d := decoder{b: data}
	for d.pos < len(d.b) {
		r, err := d.record()
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", len(recs), err)
		}
		recs = append(recs, r)
	}
	if len(recs) != int(h.RecordCount) {
		return nil, fmt.Errorf("%w: header says %d records, batch holds %d", ErrInvalidRecord, h.RecordCount, len(recs))
	}
	return recs, nil
}

// decoder reads the varint-framed fields of records from b.
type decoder struct {
	b   []byte
	pos int
}

func (d *decoder) varint() (int64, error) {
	v, n := binary.Varint(d.b[d.pos:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad varint at byte %d", ErrCorruptMessage, d.pos)
	}
	d.pos += n
	return v, nil
}

func (d *decoder) varint32() (int32, error) {
	v, err := d.varint()
	if err != nil {
		return 0, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, fmt.Errorf("%w: varint %d overflows int32", ErrCorruptMessage, v)
	}
	return int32(v), nil
}

// bytes reads a varint length and that many bytes; -1 is null (nil).
func (d *decoder) bytes() ([]byte, error) {
	l, err := d.varint()
	if err != nil {
		return nil, err
	}
	if l == -1 {
		return nil, nil
	}
	if l < 0 || l > int64(len(d.b)-d.pos) {
		return nil, fmt.Errorf("%w: length %d with %d bytes left", ErrCorruptMessage, l, len(d.b)-d.pos)
	}
	v := d.b[d.pos : d.pos+int(l) : d.pos+int(l)]
	d.pos += int(l)
	return v, nil
}

func (d *decoder) record() (Record, error) {
	var r Record
	l, err := d.varint()
	if err != nil {
		return r, err
	}
	if l < minRecordSize || l > int64(len(d.b)-d.pos) {
		return r, fmt.Errorf("%w: record length %d with %d bytes left", ErrCorruptMessage, l, len(d.b)-d.pos)
	}
	end := d.pos + int(l)
	// Decode the record within its own bounds so it cannot read into the
	// next one.
	rd := decoder{b: d.b[:end], pos: d.pos}
	d.pos = end

	rd.pos++ // attributes: unused in v2
	if r.TimestampDelta, err = rd.varint(); err != nil {
		return r, err
	}
	if r.OffsetDelta, err = rd.varint32(); err != nil {
		return r, err
	}
	if r.Key, err = rd.bytes(); err != nil {
		return r, err
	}
	if r.Value, err = rd.bytes(); err != nil {
		return r, err
	}
	nh, err := rd.varint32()
	if err != nil {
		return r, err
	}
	// Each header takes at least two bytes, which bounds the count.
	if nh < 0 || int(nh) > (end-rd.pos)/2 {
		return r, fmt.Errorf("%w: %d headers in %d bytes", ErrCorruptMessage, nh, end-rd.pos)
	}
	if nh > 0 {
		r.Headers = make([]RecordHeader, nh)
		for i := range r.Headers {
			k, err := rd.bytes()
			if err != nil {
				return r, err
			}
			if k == nil {
				return r, fmt.Errorf("%w: null header key", ErrCorruptMessage)
			}
			v, err := rd.bytes()
			if err != nil {
				return r, err
			}
			r.Headers[i] = RecordHeader{Key: string(k), Value: v}
		}
	}
	if rd.pos != end {
		return r, fmt.Errorf("%w: %d stray bytes at the end of the record", ErrCorruptMessage, end-rd.pos)
	}
	return r, nil
}

// CheckKeys checks that every record of the whole batch raw has a key, as
// a compacted topic requires (Kafka refuses the batch with
// INVALID_RECORD): ErrInvalidRecord names the first key-less record.
// Decompressed data larger than maxBytes is ErrDecompressedTooLarge.
func CheckKeys(raw []byte, maxBytes int) error {
	recs, err := DecodeRecords(raw, maxBytes)
	if err != nil {
		return err
	}
	for i := range recs {
		if recs[i].Key == nil {
			return fmt.Errorf("%w: record %d has no key; a compacted topic keeps records by key", ErrInvalidRecord, i)
		}
	}
	return nil
}

// MaxDecompressedBytes bounds the decompressed records of one batch that
// the broker decodes (to recompress or check a produced batch, split it
// into Pulsar messages, clean it or find a record by time): a batch that
// decompresses to more is refused with ErrDecompressedTooLarge rather
// than held in memory.
const MaxDecompressedBytes = 64 << 20
