package pulsarbridge

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/kop-project/kop/recordbatch"
)

// entryFormat=pulsar stores one Pulsar message per Kafka record, so native
// Pulsar consumers read what Kafka producers wrote: the record's key is the
// message key, its value the payload, its headers message properties, its
// timestamp the event time. KOP's own bookkeeping travels in properties
// under the "kop." prefix:
//
//	kop.offset  the record's offset
//	kop.base    the offset of the first record of its Kafka batch
//	kop.ts      the record's timestamp (ms; event time must be > 0)
//	kop.batch   on a batch's first record: the batch fields needed to
//	            rebuild it (see batchProps)
//	kop.nokey   "1" for a null key; kop.null "1" for a null value
//	kop.headers the exact header list (see encodeHeaders), when the
//	            properties cannot say it: headers out of key order,
//	            a key repeated, a null value or a key starting "kop."
//
// Native Pulsar consumers see each header as a property (the last value
// of a repeated key; a null value as ""). Reading rebuilds uncompressed
// Kafka batches from consecutive records, headers as they were produced.
// What does not survive is the producer's compression.
const (
	propOffset = "kop.offset"
	propBase   = "kop.base"
	propTs     = "kop.ts"
	propBatch  = "kop.batch"
	propNoKey  = "kop.nokey"
	propNull   = "kop.null"
	propHdrs   = "kop.headers"
	kopPrefix  = "kop."
)

// recordMessages turns one Kafka batch (offsets already assigned) into
// Pulsar messages, one per record.
func recordMessages(h recordbatch.Header, raw []byte) ([]*pulsar.ProducerMessage, error) {
	recs, err := recordbatch.DecodeRecords(raw, recordbatch.MaxDecompressedBytes)
	if err != nil {
		return nil, err
	}
	logAppendTime := h.Attributes&recordbatch.AttrTimestampType != 0
	out := make([]*pulsar.ProducerMessage, 0, len(recs))
	for i, r := range recs {
		ts := h.BaseTimestamp + r.TimestampDelta
		if logAppendTime {
			ts = h.MaxTimestamp
		}
		props := make(map[string]string, len(r.Headers)+4)
		for _, hd := range r.Headers {
			if !strings.HasPrefix(hd.Key, kopPrefix) {
				props[hd.Key] = string(hd.Value)
			}
		}
		if !headersAsProps(r.Headers) {
			props[propHdrs] = encodeHeaders(r.Headers)
		}
		props[propOffset] = strconv.FormatInt(h.BaseOffset+int64(r.OffsetDelta), 10)
		props[propBase] = strconv.FormatInt(h.BaseOffset, 10)
		props[propTs] = strconv.FormatInt(ts, 10)
		if i == 0 {
			props[propBatch] = batchProps(h, len(recs))
		}
		if r.Key == nil {
			props[propNoKey] = "1"
		}
		if r.Value == nil {
			props[propNull] = "1"
		}
		m := &pulsar.ProducerMessage{Key: string(r.Key), Payload: r.Value, Properties: props}
		if ts > 0 {
			m.EventTime = time.UnixMilli(ts)
		}
		out = append(out, m)
	}
	return out, nil
}

// batchProps encodes the batch fields a reader needs to rebuild it:
// leader epoch, attributes, base and max timestamp, producer id, epoch and
// base sequence, record count.
func batchProps(h recordbatch.Header, count int) string {
	attrs := h.Attributes &^ recordbatch.AttrCompressionMask
	return fmt.Sprintf("%d,%d,%d,%d,%d,%d,%d,%d", h.PartitionLeaderEpoch, attrs, h.BaseTimestamp, h.MaxTimestamp,
		h.ProducerID, h.ProducerEpoch, h.BaseSequence, count)
}

// recordInfo is what a record message says about its place in the log.
type recordInfo struct {
	offset, base int64
	batch        *batchStart // set on a batch's first record
}

type batchStart struct {
	fields recordbatch.Fields
	count  int
}

// parseRecordMessage reads a record message's kop properties; ok is false
// for a message that is not one (a kafka-format entry).
func parseRecordMessage(msg pulsar.Message) (recordInfo, bool, error) {
	return parseRecordProps(msg.Properties())
}

// parseRecordProps decodes the kop.* properties of a record message. They
// come from Pulsar, where any producer may have written them: every value
// is checked.
func parseRecordProps(props map[string]string) (recordInfo, bool, error) {
	ov, ok := props[propOffset]
	if !ok {
		return recordInfo{}, false, nil
	}
	var ri recordInfo
	var err error
	if ri.offset, err = strconv.ParseInt(ov, 10, 64); err != nil {
		return ri, true, fmt.Errorf("bad %s %q", propOffset, ov)
	}
	if ri.base, err = strconv.ParseInt(props[propBase], 10, 64); err != nil || ri.base < 0 || ri.base > ri.offset || ri.offset-ri.base > math.MaxInt32 {
		return ri, true, fmt.Errorf("bad %s %q", propBase, props[propBase])
	}
	if bv, ok := props[propBatch]; ok {
		var f recordbatch.Fields
		var count int
		n, err := fmt.Sscanf(bv, "%d,%d,%d,%d,%d,%d,%d,%d", &f.PartitionLeaderEpoch, &f.Attributes, &f.BaseTimestamp,
			&f.MaxTimestamp, &f.ProducerID, &f.ProducerEpoch, &f.BaseSequence, &count)
		if err != nil || n != 8 || count < 1 || ri.offset != ri.base {
			return ri, true, fmt.Errorf("bad %s %q", propBatch, bv)
		}
		f.BaseOffset = ri.base
		ri.batch = &batchStart{fields: f, count: count}
	}
	return ri, true, nil
}

// assembler rebuilds one Kafka batch from its record messages.
type assembler struct {
	start *batchStart
	recs  []recordbatch.Record
	msgs  []pulsar.Message
}

func (a *assembler) add(msg pulsar.Message, ri recordInfo) error {
	props := msg.Properties()
	ts, err := strconv.ParseInt(props[propTs], 10, 64)
	if err != nil {
		return fmt.Errorf("bad %s %q", propTs, props[propTs])
	}
	r := recordbatch.Record{
		OffsetDelta:    int32(ri.offset - a.start.fields.BaseOffset),
		TimestampDelta: ts - a.start.fields.BaseTimestamp,
		Key:            []byte(msg.Key()),
		Value:          msg.Payload(),
	}
	if props[propNoKey] == "1" {
		r.Key = nil
	}
	if props[propNull] == "1" {
		r.Value = nil
	} else if r.Value == nil {
		r.Value = []byte{}
	}
	if r.Headers, err = headersFromProps(props); err != nil {
		return err
	}
	a.recs = append(a.recs, r)
	a.msgs = append(a.msgs, msg)
	return nil
}

func (a *assembler) complete() bool { return len(a.recs) >= a.start.count }

func (a *assembler) encode() []byte { return recordbatch.Encode(a.start.fields, a.recs) }

// headersFromProps gives a record message's Kafka headers: kop.headers
// when present, else the properties outside "kop." sorted by key.
func headersFromProps(props map[string]string) ([]recordbatch.RecordHeader, error) {
	if hv, ok := props[propHdrs]; ok {
		hs, err := decodeHeaders(hv)
		if err != nil {
			return nil, fmt.Errorf("bad %s: %w", propHdrs, err)
		}
		return hs, nil
	}
	var hs []recordbatch.RecordHeader
	for _, k := range slices.Sorted(maps.Keys(props)) {
		if !strings.HasPrefix(k, kopPrefix) {
			hs = append(hs, recordbatch.RecordHeader{Key: k, Value: []byte(props[k])})
		}
	}
	return hs, nil
}

// headersAsProps says whether properties alone keep hs exactly: keys in
// strictly ascending order (what reading rebuilds), no null value, none
// in KOP's own "kop." namespace.
func headersAsProps(hs []recordbatch.RecordHeader) bool {
	for i, h := range hs {
		if h.Value == nil || strings.HasPrefix(h.Key, kopPrefix) || (i > 0 && hs[i-1].Key >= h.Key) {
			return false
		}
	}
	return true
}

// encodeHeaders encodes a header list as Kafka's record format does
// (varint count, then per header varint key length, key, varint value
// length or -1 for null, value), in base64 so the property stays text for
// any Pulsar client.
func encodeHeaders(hs []recordbatch.RecordHeader) string {
	b := binary.AppendVarint(nil, int64(len(hs)))
	for _, h := range hs {
		b = binary.AppendVarint(b, int64(len(h.Key)))
		b = append(b, h.Key...)
		if h.Value == nil {
			b = binary.AppendVarint(b, -1)
			continue
		}
		b = binary.AppendVarint(b, int64(len(h.Value)))
		b = append(b, h.Value...)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// decodeHeaders reverses encodeHeaders. The property comes from Pulsar,
// where any producer may have written it: every length is checked against
// what is left, so a bad value costs no more memory than its own size.
func decodeHeaders(s string) ([]recordbatch.RecordHeader, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	varint := func() (int64, error) {
		v, n := binary.Varint(b)
		if n <= 0 {
			return 0, errors.New("truncated varint")
		}
		b = b[n:]
		return v, nil
	}
	count, err := varint()
	if err != nil {
		return nil, err
	}
	// Each header takes at least two bytes.
	if count < 0 || count > int64(len(b)/2) {
		return nil, fmt.Errorf("header count %d in %d bytes", count, len(b))
	}
	hs := make([]recordbatch.RecordHeader, 0, count)
	for range count {
		kl, err := varint()
		if err != nil {
			return nil, err
		}
		if kl < 0 || kl > int64(len(b)) {
			return nil, fmt.Errorf("header key length %d", kl)
		}
		key := string(b[:kl])
		b = b[kl:]
		vl, err := varint()
		if err != nil {
			return nil, err
		}
		var val []byte
		switch {
		case vl == -1:
		case vl < 0 || vl > int64(len(b)):
			return nil, fmt.Errorf("header value length %d", vl)
		default:
			val = append([]byte{}, b[:vl]...)
			b = b[vl:]
		}
		hs = append(hs, recordbatch.RecordHeader{Key: key, Value: val})
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%d bytes after the headers", len(b))
	}
	return hs, nil
}
