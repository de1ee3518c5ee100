package e2e

import (
	"bytes"
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/apache/pulsar-client-go/pulsaradmin"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKcatThroughPulsar is issue 4's acceptance scenario for the kafka
// entry format: kcat round-trips 20,000 records through `kop standalone`
// with brokerServiceUrl set, Pulsar's admin API sees the partitioned
// topic, and everything is still there after KOP restarts.
func TestKcatThroughPulsar(t *testing.T) {
	b, p, tenant := startOnPulsar(t, map[string]string{"defaultNumPartitions": "3"})
	const n = 20000
	var in bytes.Buffer
	for i := range n {
		fmt.Fprintf(&in, "k%d:v%d\n", i, i)
	}
	kcat(t, in.Bytes(), "-b", b.addr, "-P", "-t", "via-pulsar", "-K:", "-X", "acks=all", "-X", "enable.idempotence=true")
	// pulsar-client-go's own metrics are on the broker's /metrics, with
	// the ones deploy/ queries (its error counter appears with the first
	// error).
	mfs := scrape(t, b)
	for _, name := range []string{"pulsar_client_producer_latency_seconds", "pulsar_client_messages_published", "pulsar_client_producers_opened"} {
		if mfs[name] == nil {
			t.Errorf("/metrics of a broker on Pulsar has no %s", name)
		}
	}
	if v, _ := value(mfs, "kop_topic_messages_in_total", map[string]string{"topic": "via-pulsar"}); v != n {
		t.Errorf("kop_topic_messages_in_total{topic=via-pulsar} = %v, want %d", v, n)
	}
	for _, name := range deployMetrics(t) {
		if strings.HasPrefix(name, "pulsar_client_") && name != "pulsar_client_producer_errors" && mfs[name] == nil {
			t.Errorf("deploy/ queries %s, which a broker on Pulsar does not export", name)
		}
	}
	check := func(label string) map[string]int {
		t.Helper()
		out := kcat(t, nil, "-b", b.addr, "-C", "-t", "via-pulsar", "-o", "beginning", "-e", "-q", "-f", "%p %o %k %s\n")
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != n {
			t.Fatalf("%s: kcat read %d records, want %d", label, len(lines), n)
		}
		next := map[string]int{}
		seen := map[string]bool{}
		for _, l := range lines {
			var part, key, val string
			var off int
			if _, err := fmt.Sscanf(l, "%s %d %s %s", &part, &off, &key, &val); err != nil {
				t.Fatalf("%s: line %q: %v", label, l, err)
			}
			if off != next[part] {
				t.Fatalf("%s: partition %s offset %d, want %d", label, part, off, next[part])
			}
			next[part]++
			if val != "v"+key[1:] || seen[key] {
				t.Fatalf("%s: record %s=%s (seen before: %v)", label, key, val, seen[key])
			}
			seen[key] = true
		}
		if len(next) != 3 {
			t.Fatalf("%s: records in %d partitions, want 3", label, len(next))
		}
		return next
	}
	check("first read")

	// Pulsar's own admin API sees the topic and its partitions.
	adm, err := pulsaradmin.NewClient(&pulsaradmin.Config{WebServiceURL: p.WebURL})
	if err != nil {
		t.Fatal(err)
	}
	tn, err := utils.GetTopicName("persistent://" + tenant + "/default/via-pulsar")
	if err != nil {
		t.Fatal(err)
	}
	md, err := adm.Topics().GetMetadata(*tn)
	if err != nil || md.Partitions != 3 {
		t.Fatalf("Pulsar partitioned topic metadata: %+v, %v; want 3 partitions", md, err)
	}
	var entries int64
	for i := range 3 {
		pt, _ := tn.GetPartition(i)
		st, err := adm.Topics().GetInternalStats(*pt)
		if err != nil {
			t.Fatalf("internal stats of %s: %v", pt, err)
		}
		entries += st.NumberOfEntries
	}
	if entries == 0 {
		t.Fatal("Pulsar holds no entries for the topic")
	}

	b.restart()
	counts := check("after KOP restart")
	// Offsets continue densely after the restart.
	cl := newClient(t, b.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := &kgo.Record{Topic: "via-pulsar", Partition: 1, Value: []byte("after")}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r.Offset != int64(counts["1"]) {
		t.Fatalf("record after restart at offset %d, want %d", r.Offset, counts["1"])
	}
}

// ackedRecord is where the broker said a record landed.
type ackedRecord struct {
	partition int32
	offset    int64
}

// produceUntil produces keyed records with acks=all and idempotence until
// stop is closed, and returns what was acknowledged (value → position).
func produceUntil(t *testing.T, addr, topic string, stop <-chan struct{}, count *atomic.Int64) map[string]ackedRecord {
	t.Helper()
	cl := newClient(t, addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(64<<10),
		kgo.ProduceRequestTimeout(20*time.Second))
	var mu sync.Mutex
	acked := map[string]ackedRecord{}
	var wg sync.WaitGroup
	for i := 0; ; i++ {
		select {
		case <-stop:
			wg.Wait()
			if err := cl.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			return acked
		default:
		}
		v := fmt.Sprintf("r%d", i)
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: []byte(v)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("record %s failed: %v", v, err)
				return
			}
			mu.Lock()
			acked[v] = ackedRecord{r.Partition, r.Offset}
			mu.Unlock()
			count.Add(1)
		})
		if i%200 == 199 {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// verifyAcked reads the topic back and checks that every acknowledged
// record is at the position it was acknowledged with, that offsets are
// dense and that no record is stored twice.
func verifyAcked(t *testing.T, addr, topic string, acked map[string]ackedRecord) {
	t.Helper()
	recs := readUntilEnd(t, addr, topic)
	checkDense(t, recs)
	at := map[string]ackedRecord{}
	for _, r := range recs {
		if prev, dup := at[string(r.Value)]; dup {
			t.Fatalf("record %s stored twice: %v and %d/%d", r.Value, prev, r.Partition, r.Offset)
		}
		at[string(r.Value)] = ackedRecord{r.Partition, r.Offset}
	}
	for v, a := range acked {
		if got, ok := at[v]; !ok || got != a {
			t.Fatalf("acknowledged record %s at %v: stored at %v (present %v)", v, a, got, ok)
		}
	}
	t.Logf("%d records acknowledged, %d stored", len(acked), len(recs))
}

// TestPulsarRestartDuringProduce: Pulsar stops in the middle of an acks=all
// produce and comes back; KOP stays up, answers with retriable errors
// meanwhile, recovers by itself, and no acknowledged record is lost or
// renumbered.
func TestPulsarRestartDuringProduce(t *testing.T) {
	b, p, _ := startOnPulsar(t, map[string]string{"defaultNumPartitions": "2"})
	const topic = "pulsar-restart"
	if _, err := newAdmin(t, b.addr).CreateTopic(testCtx(t, time.Minute), 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan map[string]ackedRecord)
	var count atomic.Int64
	go func() { done <- produceUntil(t, b.addr, topic, stop, &count) }()
	time.Sleep(2 * time.Second)
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	back := count.Load()
	// KOP recovers by itself: acknowledgements resume.
	waitFor(t, time.Minute, "acknowledgements after Pulsar is back", func() bool { return count.Load() > back+1000 })
	close(stop)
	acked := <-done
	select {
	case <-b.exited:
		t.Fatal("KOP exited while Pulsar restarted")
	default:
	}
	verifyAcked(t, b.addr, topic, acked)
}

// TestKopKill9OnPulsar: KOP is killed with SIGKILL during an acks=all
// produce to Pulsar; after a restart every acknowledged record is where it
// was acknowledged and offsets continue densely.
func TestKopKill9OnPulsar(t *testing.T) {
	b, _, _ := startOnPulsar(t, nil)
	const topic = "pulsar-kill9"
	if _, err := newAdmin(t, b.addr).CreateTopic(testCtx(t, time.Minute), 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan map[string]ackedRecord)
	cl := newClient(t, b.addr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(0))
	acked := map[string]ackedRecord{}
	var mu sync.Mutex
	go func() {
		var wg sync.WaitGroup
		for i := 0; ; i++ {
			select {
			case <-stop:
				wg.Wait()
				done <- acked
				return
			default:
			}
			v := fmt.Sprintf("r%d", i)
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err == nil {
					mu.Lock()
					acked[v] = ackedRecord{r.Partition, r.Offset}
					mu.Unlock()
				}
			})
			if i%100 == 99 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}()
	time.Sleep(2 * time.Second)
	b.kill9()
	time.Sleep(500 * time.Millisecond)
	close(stop)
	cl.Close() // fails what is still buffered
	<-done
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	if n == 0 {
		t.Fatal("nothing was acknowledged before the kill")
	}
	b.start()
	b.waitReady(time.Minute)
	mu.Lock()
	defer mu.Unlock()
	verifyAcked(t, b.addr, topic, acked)
	// Offsets continue after the last stored record.
	recs := readUntilEnd(t, b.addr, topic)
	counts := checkDense(t, recs)
	r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte("after")}
	pcl := newClient(t, b.addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := pcl.ProduceSync(testCtx(t, time.Minute), r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if r.Offset != int64(counts[0]) {
		t.Fatalf("record after restart at %d, want %d", r.Offset, counts[0])
	}
}

// TestPythonClientsThroughPulsar runs the confluent-kafka (idempotent, lz4,
// headers, admin) and kafka-python (gzip, admin) scenarios, and the
// confluent-kafka group scenario, against KOP storing its data in Pulsar.
func TestPythonClientsThroughPulsar(t *testing.T) {
	b, _, _ := startOnPulsar(t, map[string]string{"groupInitialRebalanceDelayMs": "0"})
	if out := python(t, confluentScript, b.addr, "py-confluent", "3000"); out != "ok 3000" {
		t.Fatalf("confluent-kafka said %q", out)
	}
	if out := python(t, kafkaPythonScript, b.addr, "py-kafka", "2000"); out != "ok 2000" {
		t.Fatalf("kafka-python said %q", out)
	}
	if out := python(t, confluentGroupScript, b.addr, "py-group-topic", "py-group"); out != "ok" {
		t.Fatalf("confluent-kafka group said %q", out)
	}
}

// interopHeaders are record i's headers: every third record has headers
// that properties alone cannot keep (out of key order, a repeated key, a
// null value, a key in KOP's namespace).
func interopHeaders(i int) []kgo.RecordHeader {
	hs := []kgo.RecordHeader{{Key: "trace", Value: []byte(fmt.Sprintf("t%d", i))}}
	if i%3 == 0 {
		hs = append(hs, kgo.RecordHeader{Key: "b", Value: []byte("1")}, kgo.RecordHeader{Key: "a"},
			kgo.RecordHeader{Key: "b", Value: []byte{0xff, 0}}, kgo.RecordHeader{Key: "kop.x", Value: []byte("y")})
	}
	return hs
}

// TestPulsarFormatInterop: with entryFormat=pulsar, records a Kafka
// producer writes (compressed, with keys, headers and timestamps) are read
// by a native pulsar-client-go consumer as messages with the same key,
// value, properties and event time, and by Kafka consumers as before,
// headers exactly as produced.
func TestPulsarFormatInterop(t *testing.T) {
	b, p, tenant := startOnPulsar(t, map[string]string{"entryFormat": "pulsar"})
	const topic, n = "interop", 500
	if _, err := newAdmin(t, b.addr).CreateTopic(testCtx(t, time.Minute), 1, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	base := time.UnixMilli(1_700_000_000_000)
	cl := newClient(t, b.addr, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{
			Topic: topic, Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf("v%d", i)),
			Headers:   interopHeaders(i),
			Timestamp: base.Add(time.Duration(i) * time.Millisecond),
		})
	}
	if err := cl.ProduceSync(testCtx(t, time.Minute), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	pc, err := pulsar.NewClient(pulsar.ClientOptions{URL: p.ServiceURL})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	reader, err := pc.CreateReader(pulsar.ReaderOptions{
		Topic:          "persistent://" + tenant + "/default/" + topic + "-partition-0",
		StartMessageID: pulsar.EarliestMessageID(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	ctx := testCtx(t, time.Minute)
	for i := range n {
		m, err := reader.Next(ctx)
		if err != nil {
			t.Fatalf("native read %d: %v", i, err)
		}
		want := base.Add(time.Duration(i) * time.Millisecond)
		if m.Key() != fmt.Sprintf("k%d", i) || string(m.Payload()) != fmt.Sprintf("v%d", i) ||
			m.Properties()["trace"] != fmt.Sprintf("t%d", i) || !m.EventTime().Equal(want) ||
			m.Properties()["kop.offset"] != fmt.Sprint(i) {
			t.Fatalf("native message %d: key %q value %q props %v event time %v (want %v)", i, m.Key(), m.Payload(), m.Properties(), m.EventTime(), want)
		}
		if i%3 == 0 && (m.Properties()["a"] != "" || m.Properties()["b"] != "\xff\x00") {
			t.Fatalf("native message %d: properties %q; want a=\"\" and the last b", i, m.Properties())
		}
	}
	// Kafka consumers read the same records back.
	got := readUntilEnd(t, b.addr, topic)
	checkDense(t, got)
	for i, r := range got {
		if string(r.Key) != fmt.Sprintf("k%d", i) || string(r.Value) != fmt.Sprintf("v%d", i) ||
			!reflect.DeepEqual(r.Headers, interopHeaders(i)) || !r.Timestamp.Equal(base.Add(time.Duration(i)*time.Millisecond)) {
			t.Fatalf("kafka record %d: %q=%q headers %v ts %v", i, r.Key, r.Value, r.Headers, r.Timestamp)
		}
	}
	// And across a KOP restart (the log is recovered from record messages).
	b.restart()
	if got := readUntilEnd(t, b.addr, topic); len(got) != n {
		t.Fatalf("after restart: %d records", len(got))
	}
}
