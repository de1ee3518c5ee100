// Package storagetest is the conformance suite every storage.Backend runs:
// the embedded log (storage/disklog) and the Pulsar log (pulsarbridge). It
// checks the storage.PartitionLog contract as written in storage.go, and
// offers helpers to build batches and configs for other packages' tests.
//
// It must not depend on any implementation, and it only uses the public
// contract, so that a backend passing it can be swapped in for another.
package storagetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/recordbatch/batchtest"
	"github.com/kop-project/kop/storage"
)

// MakeBatch returns a valid, uncompressed, non-idempotent v2 batch of
// records records, each with a nil key and a valueSize-byte value whose
// first four bytes (when valueSize >= 4) are the record's index in the
// batch, all with timestamp ts (ms).
func MakeBatch(t testing.TB, records int, valueSize int, ts int64) []byte {
	t.Helper()
	if records < 1 || valueSize < 0 {
		t.Fatalf("MakeBatch(%d, %d): need at least one record", records, valueSize)
	}
	return batchtest.Simple(records, valueSize, ts)
}

// Config returns Kafka's default topic configuration with retention
// disabled (retention.ms=-1): what the suite runs with.
func Config() storage.TopicConfig {
	return storage.TopicConfig{
		RetentionMs:        -1,
		RetentionBytes:     -1,
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * 3600 * 1000,
		MaxMessageBytes:    1048588,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		IndexIntervalBytes: 4096,
		EntryFormat:        "kafka",
	}
}

// Run runs the conformance suite. newBackend returns a backend for one
// subtest; backends may share their storage (every subtest uses its own
// topic names) and are closed by the suite.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, *fixture)
	}{
		{"DenseOffsets", testDenseOffsets},
		{"Read", testRead},
		{"ReadContent", testReadContent},
		{"LogAppendTime", testLogAppendTime},
		{"DeleteRecords", testDeleteRecords},
		{"OffsetForTimestamp", testOffsetForTimestamp},
		{"RecordForTimestamp", testRecordForTimestamp},
		{"EndOffsetForEpoch", testEndOffsetForEpoch},
		{"Changed", testChanged},
		{"Reopen", testReopen},
		{"Closed", testClosed},
		{"ConcurrentReadersWriter", testConcurrent},
		{"DeleteTopic", testDeleteTopic},
		{"MessageTooLarge", testMessageTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t)
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("backend Close: %v", err)
				}
			})
			tc.fn(t, &fixture{t: t, b: b, prefix: topicPrefix(t)})
		})
	}
}

// fixture carries a subtest's backend and names its topics.
type fixture struct {
	t      *testing.T
	b      storage.Backend
	prefix string
}

// topicPrefix is a legal, unique topic name stem for a subtest.
func topicPrefix(t *testing.T) string {
	name := t.Name()
	name = name[strings.LastIndexByte(name, '/')+1:]
	return fmt.Sprintf("st.%s.%08x", strings.ToLower(name), rand.Uint32())
}

func (f *fixture) topic(suffix string) string { return f.prefix + suffix }

// Open opens a partition as a broker does: a backend that keeps topic
// shape (storage.TopicEnsurer) has the topic made with enough partitions
// first, which is the Raft leader's job before a broker opens one.
func Open(ctx context.Context, b storage.Backend, tp storage.TopicPartition, cfg storage.TopicConfig) (storage.PartitionLog, error) {
	if te, ok := b.(storage.TopicEnsurer); ok {
		if err := te.EnsureTopic(ctx, tp.Topic, tp.Partition+1); err != nil {
			return nil, err
		}
	}
	return b.Open(ctx, tp, cfg)
}

// open opens partition 0 of the fixture's topic (or the given one).
func (f *fixture) open(topic string, cfg storage.TopicConfig) storage.PartitionLog {
	f.t.Helper()
	if topic == "" {
		topic = f.topic("")
	}
	l, err := Open(context.Background(), f.b, storage.TopicPartition{Topic: topic, Partition: 0}, cfg)
	if err != nil {
		f.t.Fatalf("Open %s: %v", topic, err)
	}
	return l
}

// batch wraps raw bytes as a storage.Batch.
func batch(t testing.TB, raw []byte) storage.Batch {
	t.Helper()
	h, err := recordbatch.ParseHeader(raw)
	if err != nil {
		t.Fatal(err)
	}
	return storage.Batch{Header: h, Raw: raw}
}

// appendN appends one batch of n records with timestamp ts.
func appendN(t testing.TB, l storage.PartitionLog, epoch int32, n int, ts int64) storage.AppendResult {
	t.Helper()
	res, err := l.Append(context.Background(), epoch, []storage.Batch{batch(t, MakeBatch(t, n, 16, ts))})
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return res
}

// readAll reads batches from offset to the log end, checking the headers
// are whole, dense and start with the batch containing offset.
func readAll(t testing.TB, l storage.PartitionLog, from int64) []recordbatch.Header {
	t.Helper()
	var hs []recordbatch.Header
	next := from
	for next < l.LogEndOffset() {
		res, err := l.Read(context.Background(), next, 64<<10)
		if err != nil {
			t.Fatalf("Read(%d): %v", next, err)
		}
		if len(res.Records) == 0 {
			t.Fatalf("Read(%d) below the end offset %d returned nothing", next, l.LogEndOffset())
		}
		first := true
		if err := recordbatch.IterateVerified(res.Records, func(h recordbatch.Header, _ []byte) bool {
			if first && !(h.BaseOffset <= next && next < h.NextOffset()) {
				t.Fatalf("Read(%d): first batch covers [%d, %d)", next, h.BaseOffset, h.NextOffset())
			}
			if !first && h.BaseOffset != next {
				t.Fatalf("Read: batch at %d after offset %d: offsets not dense", h.BaseOffset, next)
			}
			first = false
			hs = append(hs, h)
			next = h.NextOffset()
			return true
		}); err != nil {
			t.Fatalf("Read(%d) returned bad batches: %v", next, err)
		}
	}
	return hs
}

func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func testDenseOffsets(t *testing.T, f *fixture) {
	l := f.open("", Config())
	defer l.Close()
	if l.LogStartOffset() != 0 || l.LogEndOffset() != 0 {
		t.Fatalf("new log: start %d end %d", l.LogStartOffset(), l.LogEndOffset())
	}
	res := appendN(t, l, 0, 3, 1000)
	if res.BaseOffset != 0 || res.LastOffset != 2 || res.LogAppendTime != -1 || res.LogStartOffset != 0 {
		t.Fatalf("first append: %+v", res)
	}
	bs := []storage.Batch{batch(t, MakeBatch(t, 1, 8, 1001)), batch(t, MakeBatch(t, 4, 8, 1002))}
	res, err := l.Append(context.Background(), 0, bs)
	if err != nil {
		t.Fatal(err)
	}
	if res.BaseOffset != 3 || res.LastOffset != 7 || l.LogEndOffset() != 8 {
		t.Fatalf("two-batch append: %+v, end %d", res, l.LogEndOffset())
	}
	// Rewritten in place, header and bytes.
	for i, want := range []int64{3, 4} {
		h, err := recordbatch.ParseHeader(bs[i].Raw)
		if err != nil {
			t.Fatal(err)
		}
		if h.BaseOffset != want || bs[i].Header.BaseOffset != want {
			t.Fatalf("batch %d: baseOffset %d in bytes, %d in header, want %d", i, h.BaseOffset, bs[i].Header.BaseOffset, want)
		}
		if err := recordbatch.VerifyCRC(bs[i].Raw); err != nil {
			t.Fatalf("batch %d after append: %v", i, err)
		}
	}
	var bases []int64
	for _, h := range readAll(t, l, 0) {
		bases = append(bases, h.BaseOffset)
	}
	if fmt.Sprint(bases) != "[0 3 4]" {
		t.Fatalf("stored batches at %v, want [0 3 4]", bases)
	}
}

// fill appends n batches of per records each, value size vs, epoch 0.
func fill(t testing.TB, l storage.PartitionLog, n, per, vs int) {
	t.Helper()
	for i := range n {
		if _, err := l.Append(context.Background(), 0, []storage.Batch{batch(t, MakeBatch(t, per, vs, int64(1000+i)))}); err != nil {
			t.Fatal(err)
		}
	}
}

func testRead(t *testing.T, f *fixture) {
	l := f.open("", Config())
	defer l.Close()
	fill(t, l, 10, 5, 100) // offsets 0..49, batches at 0, 5, ..., 45
	one := len(MakeBatch(t, 5, 100, 0))
	ctx := context.Background()

	// check reads at offset: the first batch must contain it, batches are
	// whole, at least one and at most maxBatches, within maxBytes unless
	// there is only one. (The contract lets a backend return fewer batches
	// than would fit.)
	check := func(offset int64, maxBytes int, wantFirst int64, maxBatches int) {
		t.Helper()
		res, err := l.Read(ctx, offset, maxBytes)
		if err != nil {
			t.Fatalf("Read(%d, %d): %v", offset, maxBytes, err)
		}
		if res.HighWatermark != 50 || res.LogStartOffset != 0 {
			t.Fatalf("Read(%d): hw %d start %d", offset, res.HighWatermark, res.LogStartOffset)
		}
		var bases []int64
		if err := recordbatch.IterateVerified(res.Records, func(h recordbatch.Header, _ []byte) bool {
			bases = append(bases, h.BaseOffset)
			return true
		}); err != nil {
			t.Fatalf("Read(%d, %d): %v", offset, maxBytes, err)
		}
		if len(bases) == 0 || len(bases) > maxBatches || bases[0] != wantFirst {
			t.Fatalf("Read(%d, %d): batches at %v, want 1 to %d from %d", offset, maxBytes, bases, maxBatches, wantFirst)
		}
		for i := 1; i < len(bases); i++ {
			if bases[i] != bases[i-1]+5 {
				t.Fatalf("Read(%d, %d): batches at %v not dense", offset, maxBytes, bases)
			}
		}
		if len(bases) > 1 && len(res.Records) > maxBytes {
			t.Fatalf("Read(%d, %d): %d bytes in several batches", offset, maxBytes, len(res.Records))
		}
	}
	check(0, 1<<20, 0, 10)
	check(7, 1<<20, 5, 9)         // the batch containing 7 comes first
	check(9, 1<<20, 5, 9)         // last offset of a batch
	check(10, 1<<20, 10, 8)       // first offset of a batch
	check(12, 1, 10, 1)           // at least one batch, even over maxBytes
	check(12, 0, 10, 1)           // even with no room at all
	check(12, 2*one, 10, 2)       // two fit
	check(12, 2*one+one/2, 10, 2) // never a partial batch
	check(49, 1<<20, 45, 1)

	res, err := l.Read(ctx, 50, 1<<20)
	if err != nil || len(res.Records) != 0 || res.HighWatermark != 50 {
		t.Fatalf("Read at the end offset: %d bytes, hw %d, %v", len(res.Records), res.HighWatermark, err)
	}
	_, err = l.Read(ctx, 51, 1<<20)
	wantErr(t, "Read past the end", err, storage.ErrOffsetOutOfRange)
	_, err = l.Read(ctx, -1, 1<<20)
	wantErr(t, "Read at -1", err, storage.ErrOffsetOutOfRange)

	if _, err := l.DeleteRecords(ctx, 22); err != nil {
		t.Fatal(err)
	}
	_, err = l.Read(ctx, 21, 1<<20)
	wantErr(t, "Read below the start", err, storage.ErrOffsetOutOfRange)
	res, err = l.Read(ctx, 22, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := recordbatch.ParseHeader(res.Records); err != nil || h.BaseOffset != 20 || res.LogStartOffset != 22 {
		t.Fatalf("Read at the new start: first batch %d, start %d, %v", h.BaseOffset, res.LogStartOffset, err)
	}
}

func testReadContent(t *testing.T, f *fixture) {
	l := f.open("", Config())
	defer l.Close()
	ctx := context.Background()
	var want [][]byte
	for i := range 20 {
		raw := MakeBatch(t, 1+i%4, 50+i, int64(i))
		want = append(want, raw)
		if _, err := l.Append(ctx, 2, []storage.Batch{batch(t, append([]byte(nil), raw...))}); err != nil {
			t.Fatal(err)
		}
	}
	i := 0
	for _, h := range readAll(t, l, 0) {
		if h.PartitionLeaderEpoch != 2 {
			t.Fatalf("batch %d: partitionLeaderEpoch %d, want 2", i, h.PartitionLeaderEpoch)
		}
		i++
	}
	res, err := l.Read(ctx, 0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	i = 0
	if err := recordbatch.Iterate(res.Records, func(h recordbatch.Header, raw []byte) bool {
		// Everything from the attributes on is the client's bytes.
		if string(raw[21:]) != string(want[i][21:]) {
			t.Fatalf("batch %d changed in storage", i)
		}
		i++
		return true
	}); err != nil || i != len(want) {
		t.Fatalf("read %d batches, %v", i, err)
	}
}

func testLogAppendTime(t *testing.T, f *fixture) {
	cfg := Config()
	cfg.LogAppendTime = true
	l := f.open("", cfg)
	defer l.Close()
	before := time.Now().Add(-time.Second).UnixMilli()
	res := appendN(t, l, 0, 3, 1000)
	if res.LogAppendTime < before {
		t.Fatalf("LogAppendTime %d, want about now (%d)", res.LogAppendTime, before)
	}
	hs := readAll(t, l, 0) // verifies the CRC
	if hs[0].MaxTimestamp != res.LogAppendTime || hs[0].Attributes&recordbatch.AttrTimestampType == 0 {
		t.Fatalf("stored header %+v, append time %d", hs[0], res.LogAppendTime)
	}
	if off, ts, err := l.OffsetForTimestamp(context.Background(), res.LogAppendTime); err != nil || off != 0 || ts != res.LogAppendTime {
		t.Fatalf("OffsetForTimestamp(append time) = %d, %d, %v", off, ts, err)
	}
}

func testDeleteRecords(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.open("", Config())
	fill(t, l, 6, 5, 10) // 0..29
	del := func(before, want int64) {
		t.Helper()
		got, err := l.DeleteRecords(ctx, before)
		if err != nil || got != want || l.LogStartOffset() != want {
			t.Fatalf("DeleteRecords(%d) = %d, %v; start %d; want %d", before, got, err, l.LogStartOffset(), want)
		}
	}
	del(10, 10)
	del(5, 10) // never moves back
	del(10, 10)
	_, err := l.DeleteRecords(ctx, 31)
	wantErr(t, "DeleteRecords past the end", err, storage.ErrOffsetOutOfRange)
	del(13, 13) // mid-batch
	if hs := readAll(t, l, 13); hs[0].BaseOffset != 10 {
		t.Fatalf("after deleting to 13, first batch at %d", hs[0].BaseOffset)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = f.open("", Config())
	if l.LogStartOffset() != 13 || l.LogEndOffset() != 30 {
		t.Fatalf("reopened: start %d end %d, want 13 30", l.LogStartOffset(), l.LogEndOffset())
	}
	del(30, 30) // everything
	res, err := l.Read(ctx, 30, 1<<20)
	if err != nil || len(res.Records) != 0 || res.LogStartOffset != 30 {
		t.Fatalf("Read after deleting everything: %d bytes, start %d, %v", len(res.Records), res.LogStartOffset, err)
	}
	if r := appendN(t, l, 0, 2, 10); r.BaseOffset != 30 || r.LogStartOffset != 30 {
		t.Fatalf("append after deleting everything: %+v", r)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = f.open("", Config())
	defer l.Close()
	if l.LogStartOffset() != 30 || l.LogEndOffset() != 32 {
		t.Fatalf("reopened: start %d end %d, want 30 32", l.LogStartOffset(), l.LogEndOffset())
	}
}

func testOffsetForTimestamp(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.open("", Config())
	defer l.Close()
	check := func(ts, wantOff, wantTs int64) {
		t.Helper()
		off, got, err := l.OffsetForTimestamp(ctx, ts)
		if err != nil || off != wantOff || got != wantTs {
			t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", ts, off, got, err, wantOff, wantTs)
		}
	}
	check(0, -1, -1)         // empty log
	appendN(t, l, 0, 2, 100) // 0-1
	appendN(t, l, 0, 2, 200) // 2-3
	appendN(t, l, 0, 2, 300) // 4-5
	appendN(t, l, 0, 2, 250) // 6-7: timestamps need not grow
	check(50, 0, 100)
	check(100, 0, 100)
	check(150, 2, 200)
	check(200, 2, 200)
	check(260, 4, 300)
	check(300, 4, 300)
	check(301, -1, -1)
	if _, err := l.DeleteRecords(ctx, 3); err != nil {
		t.Fatal(err)
	}
	check(50, 3, 200) // never below the log start
}

// testRecordForTimestamp checks ListOffsets' answer at record precision:
// inside a batch whose timestamps do not grow, compressed or not, after
// the log start moved into a batch, and with LogAppendTime.
func testRecordForTimestamp(t *testing.T, f *fixture) {
	ctx := context.Background()
	for _, codec := range []int8{0, 3} {
		l := f.open(f.topic(fmt.Sprintf("-codec%d", codec)), Config())
		check := func(ts, wantOff, wantTs int64) {
			t.Helper()
			off, got, err := storage.RecordForTimestamp(ctx, l, ts)
			if err != nil || off != wantOff || got != wantTs {
				t.Fatalf("codec %d: RecordForTimestamp(%d) = %d, %d, %v; want %d, %d", codec, ts, off, got, err, wantOff, wantTs)
			}
		}
		check(0, -1, -1)
		// Offsets 0-3 at 100, 150, 120, 140; then 4-5 at 300, 200.
		appendTimed(t, l, codec, 100, 150, 120, 140)
		appendTimed(t, l, codec, 300, 200)
		check(50, 0, 100)
		check(100, 0, 100)
		check(101, 1, 150)
		check(150, 1, 150)
		check(151, 4, 300)
		check(250, 4, 300)
		check(301, -1, -1)
		if _, err := l.DeleteRecords(ctx, 2); err != nil {
			t.Fatal(err)
		}
		check(50, 2, 120) // the first record at or after the log start
		check(130, 3, 140)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := Config()
	cfg.LogAppendTime = true
	l := f.open(f.topic("-appendtime"), cfg)
	defer l.Close()
	res, err := l.Append(ctx, 0, []storage.Batch{batch(t, timedBatch(t, 0, 100, 150))})
	if err != nil {
		t.Fatal(err)
	}
	if off, ts, err := storage.RecordForTimestamp(ctx, l, res.LogAppendTime); err != nil || off != 0 || ts != res.LogAppendTime {
		t.Fatalf("LogAppendTime: RecordForTimestamp(%d) = %d, %d, %v; want 0, %d", res.LogAppendTime, off, ts, err, res.LogAppendTime)
	}
}

// timedBatch is a batch of one record per timestamp, compressed with codec.
func timedBatch(t testing.TB, codec int8, ts ...int64) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, len(ts))
	maxTs := ts[0]
	for i, v := range ts {
		recs[i] = recordbatch.Record{OffsetDelta: int32(i), TimestampDelta: v - ts[0], Value: []byte{byte(i)}}
		maxTs = max(maxTs, v)
	}
	raw := recordbatch.Encode(recordbatch.Fields{BaseTimestamp: ts[0], MaxTimestamp: maxTs, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if codec != 0 {
		var err error
		if raw, err = recordbatch.Recompress(raw, codec, recordbatch.MaxDecompressedBytes); err != nil {
			t.Fatal(err)
		}
	}
	return raw
}

func appendTimed(t testing.TB, l storage.PartitionLog, codec int8, ts ...int64) {
	t.Helper()
	if _, err := l.Append(context.Background(), 0, []storage.Batch{batch(t, timedBatch(t, codec, ts...))}); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func testEndOffsetForEpoch(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.open("", Config())
	check := func(l storage.PartitionLog, epoch, wantEpoch int32, wantEnd int64) {
		t.Helper()
		e, end := l.EndOffsetForEpoch(epoch)
		if e != wantEpoch || end != wantEnd {
			t.Fatalf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", epoch, e, end, wantEpoch, wantEnd)
		}
	}
	check(l, 0, -1, -1)
	appendN(t, l, 1, 3, 1) // epoch 1: 0-2
	check(l, 0, -1, -1)
	check(l, 1, 1, 3)
	check(l, 5, 1, 3)
	appendN(t, l, 3, 2, 1) // epoch 3: 3-4
	check(l, 1, 1, 3)
	check(l, 2, 1, 3)
	check(l, 3, 3, 5)
	check(l, 9, 3, 5)
	appendN(t, l, 3, 2, 1) // epoch 3: 5-6
	check(l, 3, 3, 7)
	check(l, 1, 1, 3)
	_, err := l.Append(ctx, 2, []storage.Batch{batch(t, MakeBatch(t, 1, 1, 1))})
	wantErr(t, "Append with an older epoch", err, storage.ErrFenced)
	if l.LogEndOffset() != 7 {
		t.Fatalf("fenced append moved the end offset to %d", l.LogEndOffset())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = f.open("", Config())
	defer l.Close()
	check(l, 1, 1, 3)
	check(l, 2, 1, 3)
	check(l, 3, 3, 7)
	appendN(t, l, 4, 1, 1)
	check(l, 3, 3, 7)
	check(l, 4, 4, 8)
}

func testChanged(t *testing.T, f *fixture) {
	l := f.open("", Config())
	ch := l.Changed()
	select {
	case <-ch:
		t.Fatal("Changed closed before any append")
	default:
	}
	woke := make(chan int64)
	go func() {
		<-ch
		woke <- l.LogEndOffset()
	}()
	appendN(t, l, 0, 2, 1)
	select {
	case end := <-woke:
		if end != 2 {
			t.Fatalf("woken with end offset %d, want 2", end)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Changed not closed by an append")
	}
	ch2 := l.Changed()
	select {
	case <-ch2:
		t.Fatal("fresh Changed channel already closed")
	default:
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch2:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed not closed by Close")
	}
}

func testReopen(t *testing.T, f *fixture) {
	l := f.open("", Config())
	fill(t, l, 20, 3, 200)
	before := readAll(t, l, 0)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = f.open("", Config())
	defer l.Close()
	if l.LogStartOffset() != 0 || l.LogEndOffset() != 60 {
		t.Fatalf("reopened: start %d end %d, want 0 60", l.LogStartOffset(), l.LogEndOffset())
	}
	after := readAll(t, l, 0)
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Fatal("batches differ after reopening")
	}
	if r := appendN(t, l, 0, 1, 1); r.BaseOffset != 60 {
		t.Fatalf("append after reopen at %d, want 60", r.BaseOffset)
	}
}

func testClosed(t *testing.T, f *fixture) {
	ctx := context.Background()
	l := f.open("", Config())
	appendN(t, l, 0, 1, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := l.Append(ctx, 0, []storage.Batch{batch(t, MakeBatch(t, 1, 1, 1))})
	wantErr(t, "Append after Close", err, storage.ErrClosed)
	_, err = l.Read(ctx, 0, 100)
	wantErr(t, "Read after Close", err, storage.ErrClosed)
	_, err = l.DeleteRecords(ctx, 1)
	wantErr(t, "DeleteRecords after Close", err, storage.ErrClosed)
	_, _, err = l.OffsetForTimestamp(ctx, 0)
	wantErr(t, "OffsetForTimestamp after Close", err, storage.ErrClosed)
	select {
	case <-l.Changed():
	default:
		t.Fatal("Changed of a closed log is not closed")
	}
}

func testConcurrent(t *testing.T, f *fixture) {
	cfg := Config()
	cfg.SegmentBytes = 64 << 10 // several segments
	cfg.IndexIntervalBytes = 512
	l := f.open("", cfg)
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const batches = 300
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := make([]int, batches)
	total := int64(0)
	for i := range sizes {
		sizes[i] = 1 + rng.IntN(5)
		total += int64(sizes[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- follow(ctx, l, total, 1<<(10+2*r))
		}()
	}
	for i, n := range sizes {
		if _, err := l.Append(ctx, 0, []storage.Batch{batch(t, MakeBatch(t, n, 100, int64(i)))}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// follow reads the log like a consumer from 0 to end, waiting on Changed,
// checking dense offsets and record contents.
func follow(ctx context.Context, l storage.PartitionLog, end int64, maxBytes int) error {
	next := int64(0)
	for next < end {
		ch := l.Changed()
		res, err := l.Read(ctx, next, maxBytes)
		if err != nil {
			return fmt.Errorf("Read(%d): %w", next, err)
		}
		if len(res.Records) == 0 {
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return fmt.Errorf("reader stuck at %d: %w", next, ctx.Err())
			}
		}
		var ierr error
		err = recordbatch.IterateVerified(res.Records, func(h recordbatch.Header, raw []byte) bool {
			if h.BaseOffset != next {
				ierr = fmt.Errorf("batch at %d, expected %d", h.BaseOffset, next)
				return false
			}
			recs, err := recordbatch.DecodeRecords(raw, 1<<20)
			if err != nil {
				ierr = fmt.Errorf("batch at %d: %w", h.BaseOffset, err)
				return false
			}
			for i, r := range recs {
				if len(r.Value) != 100 || r.Value[3] != byte(i) || int(r.OffsetDelta) != i {
					ierr = fmt.Errorf("batch at %d: record %d corrupt", h.BaseOffset, i)
					return false
				}
			}
			next = h.NextOffset()
			return true
		})
		if err != nil {
			return err
		}
		if ierr != nil {
			return ierr
		}
	}
	return nil
}

func testDeleteTopic(t *testing.T, f *fixture) {
	ctx := context.Background()
	topic := f.topic("")
	other := topic + "-1" // its partition 0 lives next to topic's partition 1
	var logs []storage.PartitionLog
	for _, tp := range []storage.TopicPartition{{Topic: topic, Partition: 0}, {Topic: topic, Partition: 1}, {Topic: other, Partition: 0}} {
		l, err := Open(ctx, f.b, tp, Config())
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 0, 3, 1)
		logs = append(logs, l)
	}
	for _, l := range logs {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.b.DeleteTopic(ctx, topic); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tp  storage.TopicPartition
		end int64
	}{{storage.TopicPartition{Topic: topic, Partition: 0}, 0}, {storage.TopicPartition{Topic: topic, Partition: 1}, 0}, {storage.TopicPartition{Topic: other, Partition: 0}, 3}} {
		l, err := Open(ctx, f.b, c.tp, Config())
		if err != nil {
			t.Fatal(err)
		}
		if l.LogEndOffset() != c.end || l.LogStartOffset() != 0 {
			t.Fatalf("%v after DeleteTopic(%s): end %d start %d, want end %d", c.tp, topic, l.LogEndOffset(), l.LogStartOffset(), c.end)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func testMessageTooLarge(t *testing.T, f *fixture) {
	cfg := Config()
	cfg.MaxMessageBytes = 1000
	l := f.open("", cfg)
	defer l.Close()
	_, err := l.Append(context.Background(), 0, []storage.Batch{batch(t, MakeBatch(t, 2, 1000, 1))})
	wantErr(t, "Append over max.message.bytes", err, storage.ErrMessageTooLarge)
	if l.LogEndOffset() != 0 {
		t.Fatalf("refused append moved the end offset to %d", l.LogEndOffset())
	}
	appendN(t, l, 0, 2, 100)
}
