package recordbatch

import (
	"encoding/binary"
	"fmt"
)

// Empty returns a batch with h's offsets, timestamps, producer fields and
// attributes (but no compression) and no records: what compaction keeps
// of a batch whose producer state must survive (Kafka does the same).
func Empty(h *Header) []byte {
	out := Encode(fieldsOf(h), nil)
	binary.BigEndian.PutUint32(out[23:], uint32(h.LastOffsetDelta))
	_ = UpdateCRC(out) // cannot fail: the header is complete
	return out
}

// fieldsOf is the batch-level fields of h, for Encode.
func fieldsOf(h *Header) Fields {
	return Fields{
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		Attributes:           h.Attributes,
		BaseTimestamp:        h.BaseTimestamp,
		MaxTimestamp:         h.MaxTimestamp,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
	}
}

// Filter returns the whole batch raw with only the records keep accepts
// (given each record's offset), as log compaction rewrites a batch: the
// base offset and lastOffsetDelta stay (so the offsets after the batch and
// a producer's last sequence are unchanged, as in Kafka), and so do the
// timestamps, producer fields, attributes and codec; the kept records keep
// their offset and timestamp deltas, and the CRC is recomputed. It returns
// raw itself when every record is kept and nil when none is. Decompressed
// records larger than maxBytes are refused with ErrDecompressedTooLarge.
// raw must be a stored batch (its header already validated).
func Filter(raw []byte, maxBytes int, keep func(offset int64, r *Record) bool) (out []byte, kept int, err error) {
	h, err := ParseHeader(raw)
	if err != nil {
		return nil, 0, err
	}
	recs, err := DecodeRecords(raw, maxBytes)
	if err != nil {
		return nil, 0, err
	}
	n := 0
	for i := range recs {
		if keep(h.BaseOffset+int64(recs[i].OffsetDelta), &recs[i]) {
			recs[n] = recs[i]
			n++
		}
	}
	switch {
	case n == len(recs):
		return raw, n, nil
	case n == 0:
		return nil, 0, nil
	}
	out = Encode(fieldsOf(&h), recs[:n])
	binary.BigEndian.PutUint32(out[23:], uint32(h.LastOffsetDelta))
	if codec := h.Compression(); codec != CompressionNone {
		if out, err = Recompress(out, codec, maxBytes); err != nil {
			return nil, 0, fmt.Errorf("recordbatch: recompress a filtered batch: %w", err)
		}
		return out, n, nil
	}
	if err := UpdateCRC(out); err != nil {
		return nil, 0, err
	}
	return out, n, nil
}
