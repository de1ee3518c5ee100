package coordinator

import (
	"github.com/prometheus/client_golang/prometheus"
)

// groupMetrics reads the groups this broker coordinates at each scrape
// and counts their rebalances.
type groupMetrics struct {
	c          *Coordinator
	rebalances prometheus.Counter
	groups     *prometheus.Desc
	members    *prometheus.Desc
}

func newGroupMetrics(c *Coordinator) *groupMetrics {
	return &groupMetrics{
		c: c,
		rebalances: prometheus.NewCounter(prometheus.CounterOpts{Name: "kop_group_rebalances_total",
			Help: "Rebalances completed (a new generation) by the groups this broker coordinates."}),
		groups:  prometheus.NewDesc("kop_groups", "Consumer groups this broker coordinates, by state.", []string{"state"}, nil),
		members: prometheus.NewDesc("kop_group_members", "Members of the groups this broker coordinates.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *groupMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.rebalances.Describe(ch)
	ch <- m.groups
	ch <- m.members
}

// Collect implements prometheus.Collector.
func (m *groupMetrics) Collect(ch chan<- prometheus.Metric) {
	m.rebalances.Collect(ch)
	byState := map[State]int{}
	members := 0
	m.c.mu.Lock()
	for _, g := range m.c.groups {
		byState[g.state]++
		members += len(g.members)
	}
	m.c.mu.Unlock()
	for _, s := range []State{Empty, PreparingRebalance, CompletingRebalance, Stable} {
		ch <- prometheus.MustNewConstMetric(m.groups, prometheus.GaugeValue, float64(byState[s]), s.String())
	}
	ch <- prometheus.MustNewConstMetric(m.members, prometheus.GaugeValue, float64(members))
}

// Collectors are the coordinator's metrics, for the broker's registry.
func (c *Coordinator) Collectors() []prometheus.Collector { return []prometheus.Collector{c.metrics} }
