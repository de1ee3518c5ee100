package raftmeta

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// raftMetrics reads Raft's own statistics at each scrape (state, term,
// indexes, last contact with the leader) and times the commands this node
// applies as leader. (hashicorp/raft's go-metrics sink is process-global;
// Stats is the same data, per Store.)
type raftMetrics struct {
	s          *Store
	applyTime  *prometheus.HistogramVec // by command
	state      *prometheus.Desc
	term       *prometheus.Desc
	commit     *prometheus.Desc
	applied    *prometheus.Desc
	lastLog    *prometheus.Desc
	contact    *prometheus.Desc
	leader     *prometheus.Desc
	fsmPending *prometheus.Desc
}

func newRaftMetrics(s *Store) *raftMetrics {
	return &raftMetrics{
		s: s,
		applyTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kop_raft_apply_duration_seconds",
			Help:    "From a metadata command handed to Raft on the leader to applied, by command.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12)}, []string{"command"}),
		state:      prometheus.NewDesc("kop_raft_state", "This node's Raft state: 1 for the current one of follower, candidate, leader, shutdown.", []string{"state"}, nil),
		term:       prometheus.NewDesc("kop_raft_term", "Current Raft term.", nil, nil),
		commit:     prometheus.NewDesc("kop_raft_commit_index", "Highest Raft log index known committed.", nil, nil),
		applied:    prometheus.NewDesc("kop_raft_applied_index", "Highest Raft log index applied to the metadata.", nil, nil),
		lastLog:    prometheus.NewDesc("kop_raft_last_log_index", "Last index in this node's Raft log.", nil, nil),
		contact:    prometheus.NewDesc("kop_raft_last_contact_seconds", "Since this follower last heard from the leader (0 on the leader).", nil, nil),
		leader:     prometheus.NewDesc("kop_raft_leader", "Whether this broker is the metadata Raft leader.", nil, nil),
		fsmPending: prometheus.NewDesc("kop_raft_fsm_pending", "Committed entries waiting to be applied.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (m *raftMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.applyTime.Describe(ch)
	for _, d := range []*prometheus.Desc{m.state, m.term, m.commit, m.applied, m.lastLog, m.contact, m.leader, m.fsmPending} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *raftMetrics) Collect(ch chan<- prometheus.Metric) {
	m.applyTime.Collect(ch)
	if m.s.raft == nil {
		return
	}
	st := m.s.raft.Stats()
	num := func(key string) float64 {
		v, _ := strconv.ParseFloat(st[key], 64)
		return v
	}
	for _, state := range []string{"Follower", "Candidate", "Leader", "Shutdown"} {
		v := 0.0
		if st["state"] == state {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.state, prometheus.GaugeValue, v, state)
	}
	ch <- prometheus.MustNewConstMetric(m.term, prometheus.GaugeValue, num("term"))
	ch <- prometheus.MustNewConstMetric(m.commit, prometheus.GaugeValue, num("commit_index"))
	ch <- prometheus.MustNewConstMetric(m.applied, prometheus.GaugeValue, num("applied_index"))
	ch <- prometheus.MustNewConstMetric(m.lastLog, prometheus.GaugeValue, num("last_log_index"))
	ch <- prometheus.MustNewConstMetric(m.fsmPending, prometheus.GaugeValue, num("fsm_pending"))
	contact := 0.0
	if st["state"] != "Leader" {
		if d, err := time.ParseDuration(st["last_contact"]); err == nil {
			contact = d.Seconds()
		}
	}
	ch <- prometheus.MustNewConstMetric(m.contact, prometheus.GaugeValue, contact)
	leader := 0.0
	if st["state"] == "Leader" {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(m.leader, prometheus.GaugeValue, leader)
}

// Collectors are the Store's metrics, for the broker's registry.
func (s *Store) Collectors() []prometheus.Collector { return []prometheus.Collector{s.metrics} }
