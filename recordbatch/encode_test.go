package recordbatch

import (
	"bytes"
	"testing"
)

func TestEncodeRoundTrip(t *testing.T) {
	recs := []Record{
		{OffsetDelta: 0, TimestampDelta: 0, Key: []byte("k"), Value: []byte("v"), Headers: []RecordHeader{{Key: "h", Value: []byte("x")}, {Key: "n"}}},
		{OffsetDelta: 1, TimestampDelta: 5, Value: nil},
		{OffsetDelta: 2, TimestampDelta: 9, Key: []byte{}, Value: bytes.Repeat([]byte("z"), 300)},
	}
	b := Encode(Fields{BaseOffset: 40, PartitionLeaderEpoch: 3, Attributes: AttrCompressionMask | 8, BaseTimestamp: 1000, MaxTimestamp: 1009,
		ProducerID: 7, ProducerEpoch: 1, BaseSequence: 11}, recs)
	if err := VerifyCRC(b); err != nil {
		t.Fatal(err)
	}
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.BaseOffset != 40 || h.NextOffset() != 43 || h.Compression() != 0 || h.Attributes != 8 || h.MaxTimestamp != 1009 ||
		h.ProducerID != 7 || h.BaseSequence != 11 || h.PartitionLeaderEpoch != 3 || h.RecordCount != 3 || h.Size() != len(b) {
		t.Fatalf("header %+v", h)
	}
	got, err := DecodeRecords(b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got[0].Key) != "k" || got[0].Headers[1].Value != nil || got[1].Value != nil ||
		got[2].Key == nil || len(got[2].Value) != 300 || got[2].TimestampDelta != 9 {
		t.Fatalf("records %+v", got)
	}
}
