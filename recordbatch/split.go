package recordbatch

import (
	"encoding/binary"
	"fmt"
)

// Parsed is one batch of a produce request: its header and its bytes, a
// sub-slice of the request's records field (not a copy).
type Parsed struct {
	Header Header
	Raw    []byte
}

// minRecordSize is the smallest encoded v2 record after its length varint:
// attributes, timestampDelta, offsetDelta, keyLength, valueLength and
// headerCount, one byte each.
const minRecordSize = 6

// Split splits the records field of a produce request into batches and
// validates each one fully, as a broker must before storing it: header,
// magic, CRC, codec, recordCount > 0 and lastOffsetDelta == recordCount-1,
// no control batch. For uncompressed batches it also walks the records'
// length varints (without allocating) and checks that there are exactly
// recordCount records filling the batch exactly; compressed batches are
// trusted on header and CRC, the records being opaque until decompressed.
//
// Empty input, a trailing partial batch or any invalid batch fails the whole
// call. Kafka 3+ produce requests carry exactly one batch per partition;
// enforcing that is the caller's choice (len(result) == 1).
func Split(records []byte) ([]Parsed, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: no record batch", ErrInvalidRecord)
	}
	var out []Parsed
	for pos := 0; pos < len(records); {
		b := records[pos:]
		h, err := ParseHeader(b)
		if err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		raw := b[:h.Size()]
		if err := validateProduce(h, raw); err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		out = append(out, Parsed{Header: h, Raw: raw})
		pos += len(raw)
	}
	return out, nil
}

// ValidateProduce validates one whole batch (b holding exactly the batch) as
// Split does and returns its header.
func ValidateProduce(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		return h, fmt.Errorf("%w: %d bytes after the batch", ErrCorruptMessage, len(b)-h.Size())
	}
	return h, validateProduce(h, b)
}

func validateProduce(h Header, raw []byte) error {
	if err := VerifyCRC(raw); err != nil {
		return err
	}
	if c := h.Compression(); c > CompressionZstd {
		return fmt.Errorf("%w: codec id %d", ErrUnsupportedCompression, c)
	}
	if h.RecordCount <= 0 {
		return fmt.Errorf("%w: record count %d", ErrInvalidRecord, h.RecordCount)
	}
	if int64(h.LastOffsetDelta) != int64(h.RecordCount)-1 {
		return fmt.Errorf("%w: lastOffsetDelta %d with %d records", ErrInvalidRecord, h.LastOffsetDelta, h.RecordCount)
	}
	if h.IsControl() {
		return fmt.Errorf("%w: control batch from a client", ErrInvalidRecord)
	}
	if h.Compression() != CompressionNone {
		return nil
	}
	n, err := countRecords(raw[HeaderSize:])
	if err != nil {
		return err
	}
	if n != int(h.RecordCount) {
		return fmt.Errorf("%w: header says %d records, batch holds %d", ErrInvalidRecord, h.RecordCount, n)
	}
	return nil
}

// countRecords walks the length varints of uncompressed records and returns
// how many there are; the lengths must add up to len(b) exactly.
func countRecords(b []byte) (int, error) {
	n := 0
	for pos := 0; pos < len(b); n++ {
		l, w := binary.Varint(b[pos:])
		if w <= 0 {
			return n, fmt.Errorf("%w: bad length varint of record %d", ErrCorruptMessage, n)
		}
		pos += w
		if l < minRecordSize || l > int64(len(b)-pos) {
			return n, fmt.Errorf("%w: record %d claims %d bytes, %d left", ErrCorruptMessage, n, l, len(b)-pos)
		}
		pos += int(l)
	}
	return n, nil
}

// Iterate walks the concatenated batches of a stored log or a fetch buffer,
// calling fn with each header and the batch's bytes (a sub-slice of
// records), until fn returns false or the input ends. It validates the
// header and length of every batch but not its CRC (see IterateVerified).
// A trailing partial batch is an ErrCorruptMessage error returned after fn
// has seen all whole batches before it; use WholeBatches to trim a buffer
// that may legitimately end mid-batch.
func Iterate(records []byte, fn func(Header, []byte) bool) error {
	return iterate(records, false, fn)
}

// IterateVerified is Iterate that also checks each batch's CRC before
// passing it to fn, for crash recovery. On error, the batches fn has seen
// form the valid prefix of records.
func IterateVerified(records []byte, fn func(Header, []byte) bool) error {
	return iterate(records, true, fn)
}

func iterate(records []byte, crc bool, fn func(Header, []byte) bool) error {
	for pos := 0; pos < len(records); {
		h, err := ParseHeader(records[pos:])
		if err != nil {
			return fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		raw := records[pos : pos+h.Size()]
		if crc {
			if err := VerifyCRC(raw); err != nil {
				return fmt.Errorf("batch at byte %d: %w", pos, err)
			}
		}
		if !fn(h, raw) {
			return nil
		}
		pos += len(raw)
	}
	return nil
}

// WholeBatches returns the length of the longest prefix of b made of whole
// batches, judged by their length fields only.
func WholeBatches(b []byte) int {
	pos := 0
	for len(b)-pos >= HeaderSize {
		n := int64(int32(binary.BigEndian.Uint32(b[pos+offBatchLength:]))) + lengthFieldEnd
		if n < HeaderSize || n > int64(len(b)-pos) {
			break
		}
		pos += int(n)
	}
	return pos
}
