package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"
)

// scrape reads a broker's /metrics as metric families by name.
func scrape(t testing.TB, b *broker) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + b.httpAddr + "/metrics")
	if err != nil {
		t.Fatalf("scraping /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics answered %s", resp.Status)
	}
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return mfs
}

// value sums the series of a family whose labels include want; for a
// histogram, its sample count. ok is false when no series matches.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (v float64, ok bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.Metric {
		match := true
		for k, wv := range want {
			found := false
			for _, lp := range m.Label {
				found = found || lp.GetName() == k && lp.GetValue() == wv
			}
			match = match && found
		}
		if !match {
			continue
		}
		ok = true
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Histogram != nil:
			v += float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			v += m.Untyped.GetValue()
		}
	}
	return v, ok
}

// TestMetrics: after a produce / consume / group run on the embedded log,
// /metrics holds the series the README's table lists, with the values the
// run implies: records in equal to those produced, lag equal to the
// records the group has not committed, request and latency series per
// API, Raft, cluster, fsync, Go and process series. The Grafana dashboard
// and the Prometheus alert rules in deploy/ parse and query only metrics
// the broker exports (pulsar_client_* ones: TestKcatThroughPulsar).
func TestMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, nil)
	ctx := testCtx(t, 2*time.Minute)
	if _, err := newAdmin(t, b.addr).CreateTopic(ctx, 2, 1, nil, "metered"); err != nil {
		t.Fatal(err)
	}
	producer := newClient(t, b.addr, kgo.RecordDeliveryTimeout(45*time.Second))
	produceN(t, producer, "metered", 100)
	consumer := newClient(t, b.addr, kgo.ConsumeTopics("metered"), kgo.ConsumerGroup("metered-g"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	got := 0
	for got < 100 {
		fs := consumer.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("consuming after %d records: %v", got, err)
		}
		got += fs.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	consumer.Close()
	produceN(t, producer, "metered", 25) // not consumed: the lag

	mfs := scrape(t, b)
	must := func(name string, labels map[string]string, check func(float64) bool, want string) {
		t.Helper()
		v, ok := value(mfs, name, labels)
		if !ok {
			t.Errorf("/metrics has no %s%v", name, labels)
			return
		}
		if !check(v) {
			t.Errorf("%s%v = %v, want %s", name, labels, v, want)
		}
	}
	eq := func(n float64) (func(float64) bool, string) {
		return func(v float64) bool { return v == n }, fmt.Sprint(n)
	}
	atLeast := func(n float64) (func(float64) bool, string) {
		return func(v float64) bool { return v >= n }, fmt.Sprintf(">= %v", n)
	}
	topic := map[string]string{"topic": "metered"}
	c, w := eq(125)
	must("kop_topic_messages_in_total", topic, c, w)
	c, w = atLeast(125 * 10)
	must("kop_topic_bytes_in_total", topic, c, w)
	c, w = atLeast(100)
	must("kop_topic_messages_out_total", topic, c, w)
	c, w = atLeast(1)
	must("kop_topic_bytes_out_total", topic, c, w)
	c, w = eq(25)
	must("kop_group_lag", map[string]string{"group": "metered-g", "topic": "metered"}, c, w)
	c, w = atLeast(1)
	for _, api := range []string{"Produce", "Fetch", "Metadata", "JoinGroup", "OffsetCommit"} {
		must("kop_kafka_requests_total", map[string]string{"api": api}, c, w)
		for _, h := range []string{"kop_kafka_request_total_time_seconds", "kop_kafka_request_queue_time_seconds", "kop_kafka_request_local_time_seconds", "kop_kafka_response_send_time_seconds"} {
			must(h, map[string]string{"api": api}, c, w)
		}
	}
	must("kop_kafka_request_errors_total", map[string]string{"api": "Produce", "error": "NONE"}, c, w)
	must("kop_produce_append_duration_seconds", nil, c, w)
	must("kop_disklog_fsync_duration_seconds", nil, c, w)
	must("kop_group_rebalances_total", nil, c, w)
	must("kop_kafka_connections_accepted_total", nil, c, w)
	must("kop_raft_term", nil, c, w)
	must("kop_raft_commit_index", nil, c, w)
	must("kop_raft_apply_duration_seconds", nil, c, w)
	must("kop_partitions_led", nil, c, w)
	must("kop_open_partitions", nil, c, w)
	must("process_resident_memory_bytes", nil, c, w)
	must("go_goroutines", nil, c, w)
	c, w = eq(1)
	must("kop_raft_state", map[string]string{"state": "Leader"}, c, w)
	must("kop_raft_leader", nil, c, w)
	must("kop_brokers", map[string]string{"state": "live"}, c, w)
	must("kop_groups", map[string]string{"state": "Empty"}, c, w) // the consumer left
	c, w = eq(0)
	must("kop_group_members", nil, c, w)
	// The clients are idle, but for a metadata refresh perhaps.
	must("kop_kafka_requests_in_flight", nil, func(v float64) bool { return v >= 0 && v <= 2 }, "0 to 2")

	// Every metric the dashboard and the alert rules query is exported
	// (pulsar_client_*: by a broker on Pulsar).
	for _, name := range deployMetrics(t) {
		if strings.HasPrefix(name, "pulsar_client_") || name == "up" {
			continue
		}
		if mfs[name] == nil {
			t.Errorf("deploy/ queries %s, which the broker does not export", name)
		}
	}
}

// deployMetrics are the metric names the Grafana dashboard's queries and
// the Prometheus alert rules use, after checking both files parse.
func deployMetrics(t testing.TB) []string {
	t.Helper()
	root := filepath.Join("..", "deploy")
	raw, err := os.ReadFile(filepath.Join(root, "grafana", "kop.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("deploy/grafana/kop.json: %v", err)
	}
	var exprs []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	rawRules, err := os.ReadFile(filepath.Join(root, "prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(rawRules, &rules); err != nil {
		t.Fatalf("deploy/prometheus/alerts.yml: %v", err)
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" || r.Expr == "" {
				t.Fatalf("alerts.yml: a rule without alert or expr: %+v", r)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	if len(exprs) < 20 {
		t.Fatalf("deploy/ has only %d queries", len(exprs))
	}
	name := regexp.MustCompile(`\b((?:kop|pulsar_client|go|process)_[a-z_]+|up)\b`)
	var names []string
	for _, e := range exprs {
		for _, m := range name.FindAllString(e, -1) {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				m = strings.TrimSuffix(m, suffix)
			}
			if !slices.Contains(names, m) {
				names = append(names, m)
			}
		}
	}
	return names
}
