package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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
