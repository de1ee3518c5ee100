package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/kop-project/kop/recordbatch"
)

// TestTopicCompressionType: a topic whose compression.type names a codec
// stores every produced batch in that codec, whatever the producer used
// (uncompressed or another codec), and consumers read the records back
// unchanged; changing the config changes the codec of later batches.
func TestTopicCompressionType(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { checkTopicCompression(t, startStandalone(t, nil).addr) })
	t.Run("pulsar", func(t *testing.T) {
		b, _, _ := startOnPulsar(t, nil)
		checkTopicCompression(t, b.addr)
	})
}

func checkTopicCompression(t *testing.T, addr string) {
	ctx := testCtx(t, 2*time.Minute)
	adm := newAdmin(t, addr)
	const topic = "recompressed"
	if res, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"compression.type": ptr("lz4")}, topic); err != nil || res.Err != nil {
		t.Fatalf("create with compression.type=lz4: %v %v", err, res.Err)
	}
	produce := func(codec kgo.CompressionCodec, from, n int) {
		t.Helper()
		cl := newClient(t, addr, kgo.ProducerBatchCompression(codec), kgo.RecordDeliveryTimeout(time.Minute))
		for i := from; i < from+n; i++ {
			r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("value %d %0100d", i, i))}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(kgo.NoCompression(), 0, 20)
	produce(kgo.GzipCompression(), 20, 20)
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "compression.type", Value: ptr("zstd")}}, topic); err != nil {
		t.Fatal(err)
	}
	produce(kgo.SnappyCompression(), 40, 20)
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "compression.type", Value: ptr("snappy")}}, topic); err != nil {
		t.Fatal(err)
	}
	produce(kgo.Lz4Compression(), 60, 20)

	// The stored batches, as a fetch returns them.
	// (Kafka 2.8's versions: fetches by topic name.)
	cl := newClient(t, addr, kgo.MaxVersions(kversion.V2_8_0()))
	var codecs []int8
	for offset := int64(0); offset < 80; {
		resp, err := fetchReq(topic, offset, 0, 1, 1<<20, 1<<20).RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("fetch at %d: error %d", offset, p.ErrorCode)
		}
		next := offset
		if err := recordbatch.Iterate(p.RecordBatches, func(h recordbatch.Header, _ []byte) bool {
			codecs = append(codecs, h.Compression())
			next = h.NextOffset()
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if next == offset {
			t.Fatalf("fetch at %d returned nothing", offset)
		}
		offset = next
	}
	lz4, _ := recordbatch.CodecNamed("lz4")
	zstd, _ := recordbatch.CodecNamed("zstd")
	snappy, _ := recordbatch.CodecNamed("snappy")
	if len(codecs) != 80 {
		t.Fatalf("%d batches, want 80 (one per ProduceSync)", len(codecs))
	}
	for i, c := range codecs {
		want := lz4
		switch {
		case i >= 60:
			want = snappy
		case i >= 40:
			want = zstd
		}
		if c != want {
			t.Fatalf("batch %d stored with codec %d, want %d", i, c, want)
		}
	}
	// And consumers read every record as produced: franz-go, and
	// librdkafka (kcat).
	got := consumeAll(t, addr, topic, 80)
	checkDense(t, got)
	for i, r := range got {
		if string(r.Key) != fmt.Sprintf("k%d", i) || string(r.Value) != fmt.Sprintf("value %d %0100d", i, i) {
			t.Fatalf("record %d: %q = %q", i, r.Key, r.Value)
		}
	}
	out := kcat(t, nil, "-b", addr, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o %k %s\n")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 80 {
		t.Fatalf("kcat read %d records, want 80", len(lines))
	}
	for i, l := range lines {
		if want := fmt.Sprintf("%d k%d value %d %0100d", i, i, i, i); l != want {
			t.Fatalf("kcat record %d: %q, want %q", i, l, want)
		}
	}
}
