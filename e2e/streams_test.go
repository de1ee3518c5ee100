package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKafkaStreamsWordCount runs a Kafka Streams stateful app (word count
// with a RocksDB store whose changelog is a compacted topic Streams
// creates) against KOP: Streams 2.0.0 and 3.9.1 on the embedded log, 2.0.0
// on Pulsar (whose cleaner runs every 500 ms meanwhile), at_least_once;
// and exactly_once (transactions, read_committed) with Streams 2.0.0 on
// both backends. The counts are exact, and a second run with a fresh
// state directory restores the store from the changelog and goes on
// counting exactly.
func TestKafkaStreamsWordCount(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Run("embedded", func(t *testing.T) {
		b := startStandalone(t, map[string]string{"groupInitialRebalanceDelayMs": "0", "logCleanerBackoffMs": "500"})
		for _, v := range javaClientVersions {
			t.Run(v, func(t *testing.T) { checkWordCount(t, b.addr, v, "at_least_once") })
		}
		t.Run("2.0.0-exactly_once", func(t *testing.T) { checkWordCount(t, b.addr, "2.0.0", "exactly_once") })
	})
	t.Run("pulsar", func(t *testing.T) {
		b, _, _ := startOnPulsar(t, map[string]string{"groupInitialRebalanceDelayMs": "0", "logCleanerBackoffMs": "500"})
		checkWordCount(t, b.addr, "2.0.0", "at_least_once")
		t.Run("exactly_once", func(t *testing.T) { checkWordCount(t, b.addr, "2.0.0", "exactly_once") })
	})
}

// wordCountVocabulary: every run's input holds each word, so every count
// is emitted.
var wordCountVocabulary = []string{"kafka", "pulsar", "stream", "table", "state", "store", "changelog", "compact"}

func checkWordCount(t *testing.T, addr, version, guarantee string) {
	ctx := testCtx(t, 5*time.Minute)
	suffix := strings.ReplaceAll(version, ".", "-") + "-" + strings.ReplaceAll(guarantee, "_", "-")
	input, output, app := "wc-input-"+suffix, "wc-output-"+suffix, "kop-wordcount-"+suffix
	adm := newAdmin(t, addr)
	for _, tp := range []string{input, output} {
		if res, err := adm.CreateTopic(ctx, 2, 1, nil, tp); err != nil || res.Err != nil {
			t.Fatalf("create %s: %v %v", tp, err, res.Err)
		}
	}
	want := map[string]int{}
	total := 0
	produceLines := func(round, lines int) {
		t.Helper()
		cl := newClient(t, addr, kgo.RecordDeliveryTimeout(time.Minute))
		var recs []*kgo.Record
		for i := 0; i < lines; i++ {
			var words []string
			for j, w := range wordCountVocabulary {
				// Word j appears (i+j+round)%3+1 times on line i.
				for k := 0; k <= (i+j+round)%3; k++ {
					words = append(words, strings.ToUpper(w[:1])+w[1:])
					want[w]++
					total++
				}
			}
			recs = append(recs, &kgo.Record{Topic: input, Key: []byte(strconv.Itoa(i)), Value: []byte(strings.Join(words, " ") + ".")})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce lines: %v", err)
		}
	}
	run := func(what string) {
		t.Helper()
		began := time.Now()
		defer func() { t.Logf("%s took %v", what, time.Since(began).Round(time.Millisecond)) }()
		out := javaDemo(t, version, "wordcount", "--bootstrap", addr, "--input", input, "--output", output,
			"--app-id", app, "--state-dir", t.TempDir(), "--expect", strconv.Itoa(total), "--timeout-s", "150",
			"--guarantee", guarantee)
		if !strings.Contains(out, fmt.Sprintf("wordcount done: %d", total)) {
			t.Fatalf("%s: the word count did not reach %d words:\n%s", what, total, tail([]byte(out)))
		}
		for w, n := range want {
			if !strings.Contains(out, fmt.Sprintf("count %s %d\n", w, n)) {
				t.Fatalf("%s: count of %q is not %d:\n%s", what, w, n, tail([]byte(out)))
			}
		}
	}
	produceLines(0, 50)
	run("first run")

	// Streams created its changelog compacted, and its group committed.
	changelog := app + "-counts-changelog"
	cfgs, err := adm.DescribeTopicConfigs(ctx, changelog)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := cfgs.On(changelog, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe %s: %v %v", changelog, err, rc.Err)
	}
	policy := ""
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" {
			policy = c.MaybeValue()
		}
	}
	if policy != "compact" {
		t.Fatalf("the changelog's cleanup.policy is %q, want compact", policy)
	}

	// A second run on a fresh state directory restores the store from the
	// changelog: its counts go on from the first run's.
	produceLines(1, 30)
	run("second run, store restored from the changelog")

	// The output topic's latest value per word is the count.
	lag, err := adm.Lag(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	lag.Each(func(l kadm.DescribedGroupLag) {
		if l.FetchErr != nil || l.DescribeErr != nil {
			t.Fatalf("lag of %s: %v %v", app, l.FetchErr, l.DescribeErr)
		}
		for _, pl := range l.Lag.Sorted() {
			if pl.Topic == input && pl.Lag != 0 {
				t.Fatalf("the app left %d lines of %s/%d unread", pl.Lag, pl.Topic, pl.Partition)
			}
		}
	})
}
