package pulsarbridge

import (
	"bytes"
	"testing"

	"github.com/kop-project/kop/recordbatch"
)

func TestRecordMessagesRoundTrip(t *testing.T) {
	recs := []recordbatch.Record{
		{OffsetDelta: 0, TimestampDelta: 0, Key: []byte("k0"), Value: []byte("v0"), Headers: []recordbatch.RecordHeader{{Key: "b", Value: []byte("2")}, {Key: "a", Value: []byte("1")}}},
		{OffsetDelta: 1, TimestampDelta: 7, Key: nil, Value: nil},
	}
	raw := recordbatch.Encode(recordbatch.Fields{BaseOffset: 40, PartitionLeaderEpoch: 2, BaseTimestamp: 1000, MaxTimestamp: 1007,
		ProducerID: 9, ProducerEpoch: 1, BaseSequence: 5}, recs)
	h, err := recordbatch.ParseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := recordMessages(h, raw)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("%d messages, %v", len(msgs), err)
	}
	if msgs[0].Key != "k0" || string(msgs[0].Payload) != "v0" || msgs[0].Properties["a"] != "1" || msgs[0].EventTime.UnixMilli() != 1000 {
		t.Fatalf("message 0: %+v", msgs[0])
	}
	ri, ok, err := parseRecordProps(msgs[1].Properties)
	if !ok || err != nil || ri.offset != 41 || ri.base != 40 || ri.batch != nil {
		t.Fatalf("message 1: %+v %v %v", ri, ok, err)
	}
	first, _, err := parseRecordProps(msgs[0].Properties)
	if err != nil || first.batch == nil || first.batch.count != 2 || first.batch.fields.ProducerID != 9 || first.batch.fields.BaseSequence != 5 {
		t.Fatalf("batch start: %+v %v", first, err)
	}
}

// FuzzParseRecordProps: kop.* properties come from Pulsar, where any
// producer can write them; decoding must never panic and must refuse
// inconsistent values.
func FuzzParseRecordProps(f *testing.F) {
	f.Add("41", "40", "", "1007")
	f.Add("40", "40", "2,0,1000,1007,9,1,5,2", "1000")
	f.Add("-1", "9223372036854775807", "x,y", "")
	f.Fuzz(func(t *testing.T, offset, base, batch, ts string) {
		props := map[string]string{propOffset: offset, propBase: base, propTs: ts}
		if batch != "" {
			props[propBatch] = batch
		}
		ri, ok, err := parseRecordProps(props)
		if !ok {
			t.Fatal("a message with kop.offset is a record message")
		}
		if err != nil {
			return
		}
		if ri.base < 0 || ri.base > ri.offset || ri.offset-ri.base > 1<<31-1 {
			t.Fatalf("accepted offset %d base %d", ri.offset, ri.base)
		}
		if ri.batch != nil && (ri.batch.count < 1 || ri.offset != ri.base) {
			t.Fatalf("accepted batch %+v at %d/%d", ri.batch, ri.offset, ri.base)
		}
	})
}

// TestHeadersRoundTrip: headers come back from the message properties as
// they were produced, including those properties alone cannot keep.
func TestHeadersRoundTrip(t *testing.T) {
	cases := [][]recordbatch.RecordHeader{
		nil,
		{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte{}}},
		{{Key: "b", Value: []byte("2")}, {Key: "a", Value: []byte("1")}},
		{{Key: "a", Value: []byte("1")}, {Key: "a", Value: []byte("2")}},
		{{Key: "n", Value: nil}},
		{{Key: "kop.offset", Value: []byte("7")}, {Key: "", Value: []byte{0xff, 0, 0xfe}}},
	}
	for i, hs := range cases {
		raw := recordbatch.Encode(recordbatch.Fields{BaseOffset: 3, BaseTimestamp: 1, MaxTimestamp: 1},
			[]recordbatch.Record{{Key: []byte("k"), Value: []byte("v"), Headers: hs}})
		h, err := recordbatch.ParseHeader(raw)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := recordMessages(h, raw)
		if err != nil {
			t.Fatal(err)
		}
		props := msgs[0].Properties
		if _, exact := props[propHdrs]; exact == headersAsProps(hs) {
			t.Fatalf("case %d: kop.headers present %v for headers %q", i, exact, hs)
		}
		got, err := headersFromProps(props)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if len(got) != len(hs) {
			t.Fatalf("case %d: got %q, want %q", i, got, hs)
		}
		for j := range hs {
			if got[j].Key != hs[j].Key || !bytes.Equal(got[j].Value, hs[j].Value) || (got[j].Value == nil) != (hs[j].Value == nil) {
				t.Fatalf("case %d: got %q, want %q", i, got, hs)
			}
		}
		if r, ok := props[propOffset]; !ok || r != "3" {
			t.Fatalf("case %d: a header overwrote kop.offset: %q", i, props)
		}
	}
	for _, bad := range []string{"!!", encodeHeaders(nil) + "AA", "Ag==", "AgI=", "AgJhYQE="} {
		if _, err := decodeHeaders(bad); err == nil {
			t.Fatalf("decodeHeaders(%q) accepted", bad)
		}
	}
}

// FuzzDecodeHeaders: kop.headers comes from Pulsar, where any producer can
// write it; decoding never panics, and what it accepts survives encoding
// and decoding again unchanged.
func FuzzDecodeHeaders(f *testing.F) {
	f.Add(encodeHeaders([]recordbatch.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "a"}}))
	f.Add(encodeHeaders(nil))
	f.Add("AgJhYQE=")
	f.Fuzz(func(t *testing.T, s string) {
		hs, err := decodeHeaders(s)
		if err != nil {
			return
		}
		again, err := decodeHeaders(encodeHeaders(hs))
		if err != nil || len(again) != len(hs) {
			t.Fatalf("%q decodes to %q, which round-trips to %q, %v", s, hs, again, err)
		}
		for i := range hs {
			if again[i].Key != hs[i].Key || !bytes.Equal(again[i].Value, hs[i].Value) || (again[i].Value == nil) != (hs[i].Value == nil) {
				t.Fatalf("%q decodes to %q, which round-trips to %q", s, hs, again)
			}
		}
	})
}
