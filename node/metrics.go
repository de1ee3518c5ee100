package node

import (
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kop-project/kop/storage"
)

// maxLagSeries bounds the consumer-lag series one scrape reports (group ×
// partition); beyond it, lag is left out and kop_group_lag_truncated says
// so.
const maxLagSeries = 10000

// newRegistry is the broker's Prometheus registry with the Go runtime's
// and the process's collectors and the broker's own (cluster, lag). The
// components' collectors join it as they start (registerMetrics).
func (n *Node) newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	n.failovers = prometheus.NewCounter(prometheus.CounterOpts{Name: "kop_partition_failovers_total",
		Help: "Partitions this broker, as Raft leader, moved off a broker unreachable for longer than its session timeout."})
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		n.failovers, &clusterMetrics{n: n})
	return reg
}

// register adds a component's collectors; a clash of names is a bug.
func (n *Node) registerMetrics(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := n.metrics.Register(c); err != nil {
			n.log.Error("registering metrics", "err", err)
		}
	}
}

// registerBackend adds the storage backend's own metrics.
func (n *Node) registerBackend() {
	if in, ok := n.backend.(storage.Instrumented); ok {
		n.registerMetrics(in.Collectors()...)
	}
}

// clusterMetrics reads the broker's view of the cluster at each scrape:
// partitions led and open, brokers by state, and the consumer lag of the
// partitions this broker leads (each broker reports its own partitions,
// so summing over brokers counts each once).
type clusterMetrics struct{ n *Node }

var (
	descPartitionsLed = prometheus.NewDesc("kop_partitions_led", "Partitions the metadata names this broker the leader of.", nil, nil)
	descOpenParts     = prometheus.NewDesc("kop_open_partitions", "Partitions this broker leads and has open.", nil, nil)
	descBrokers       = prometheus.NewDesc("kop_brokers", "Registered brokers, by state (live, fenced).", []string{"state"}, nil)
	descLag           = prometheus.NewDesc("kop_group_lag", "Consumer lag: the partition's high watermark minus the group's committed offset, for partitions this broker leads (Kafka: records-lag as kafka-consumer-groups shows it).",
		[]string{"group", "topic", "partition"}, nil)
	descLagTruncated = prometheus.NewDesc("kop_group_lag_truncated", "1 when more group partitions had lag than the series reported (maxLagSeries).", nil, nil)
)

// Describe implements prometheus.Collector.
func (m *clusterMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPartitionsLed, descOpenParts, descBrokers, descLag, descLagTruncated} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. Until start-up completed it
// reports nothing.
func (m *clusterMetrics) Collect(ch chan<- prometheus.Metric) {
	n := m.n
	select {
	case <-n.ready:
	default:
		return
	}
	led := 0
	for _, t := range n.meta.Topics() {
		for _, p := range t.Partitions {
			if p.Leader == n.cfg.NodeID {
				led++
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(descPartitionsLed, prometheus.GaugeValue, float64(led))
	open := n.parts.Open()
	ch <- prometheus.MustNewConstMetric(descOpenParts, prometheus.GaugeValue, float64(len(open)))
	live, fenced := 0, 0
	for _, b := range n.meta.Brokers() {
		if b.Fenced {
			fenced++
		} else {
			live++
		}
	}
	ch <- prometheus.MustNewConstMetric(descBrokers, prometheus.GaugeValue, float64(live), "live")
	ch <- prometheus.MustNewConstMetric(descBrokers, prometheus.GaugeValue, float64(fenced), "fenced")

	// Lag of the open partitions: their high watermark (the log end) less
	// what each group committed.
	hwm := make(map[storage.TopicPartition]int64, len(open))
	for _, tp := range open {
		if p, ok := n.parts.Get(tp); ok {
			hwm[tp] = p.Log().LogEndOffset()
		}
	}
	series, truncated := 0, 0.0
	for _, g := range n.meta.GroupIDs() {
		for k, off := range n.meta.Offsets(g) {
			end, ok := hwm[storage.TopicPartition{Topic: k.Topic, Partition: k.Partition}]
			if !ok || off.Offset < 0 {
				continue
			}
			if series >= maxLagSeries {
				truncated = 1
				break
			}
			series++
			ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(max(end-off.Offset, 0)),
				printableID(g), k.Topic, strconv.Itoa(int(k.Partition)))
		}
	}
	ch <- prometheus.MustNewConstMetric(descLagTruncated, prometheus.GaugeValue, truncated)
}

// printableID is a stored group id as a label: a tenant's separator (NUL,
// package scope) shown as '/'.
func printableID(id string) string { return strings.ReplaceAll(id, "\x00", "/") }
