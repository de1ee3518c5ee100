package kafkaapi

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metrics are the Server's Prometheus collectors (Collectors registers
// them on the broker's registry). The per-API series are resolved once,
// so the request path only touches atomics.
type metrics struct {
	requests [maxKey + 1]prometheus.Counter
	// Kafka's RequestMetrics: TotalTimeMs, RequestQueueTimeMs, LocalTimeMs,
	// ResponseSendTimeMs.
	totalTime, queueTime, localTime, sendTime [maxKey + 1]prometheus.Observer
	errors                                    *prometheus.CounterVec // api, error
	inFlight                                  prometheus.Gauge

	bytesIn, bytesOut prometheus.Counter
	connections       prometheus.Gauge
	accepted, closed  prometheus.Counter
	rejected          prometheus.Counter // connections closed for bad input
	refused           prometheus.Counter // closed at accept: over a connection cap
	refusedN          atomic.Int64       // the same, for log throttling
	authFailures      prometheus.Counter // failed SASL authentications and TLS handshakes
	budgetWaits       prometheus.Counter // request bodies that waited for queuedMaxRequestBytes
	fetchWaits        prometheus.Gauge   // fetches parked in their long poll now
	longPolls         prometheus.Counter // fetches that parked
	appendTime        prometheus.Observer

	topics topicMetrics

	all []prometheus.Collector
}

// latencyBuckets span 0.25 ms to about 30 s.
var latencyBuckets = prometheus.ExponentialBuckets(0.00025, 2.5, 14)

func newMetrics() *metrics {
	m := &metrics{}
	add := func(c prometheus.Collector) { m.all = append(m.all, c) }
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		add(c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		add(g)
		return g
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kop_kafka_requests_total", Help: "Kafka requests handled, by API (Kafka: RequestsPerSec)."}, []string{"api"})
	add(requests)
	hist := func(name, help string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets}, []string{"api"})
		add(h)
		return h
	}
	total := hist("kop_kafka_request_total_time_seconds", "From a request's last byte read to its response written, by API (Kafka: TotalTimeMs).")
	queue := hist("kop_kafka_request_queue_time_seconds", "From a request's last byte read to its handling starting (Kafka: RequestQueueTimeMs).")
	local := hist("kop_kafka_request_local_time_seconds", "Handling a request until its response is ready, waiting for storage and Raft included (Kafka: LocalTimeMs).")
	send := hist("kop_kafka_response_send_time_seconds", "From a response ready to written to the socket (Kafka: ResponseSendTimeMs).")
	for key := range m.requests {
		name := kmsg.NameForKey(int16(key))
		if name == "Unknown" {
			name = "Unknown" + strconv.Itoa(key)
		}
		m.requests[key] = requests.WithLabelValues(name)
		m.totalTime[key] = total.WithLabelValues(name)
		m.queueTime[key] = queue.WithLabelValues(name)
		m.localTime[key] = local.WithLabelValues(name)
		m.sendTime[key] = send.WithLabelValues(name)
	}
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kop_kafka_request_errors_total",
		Help: "Error codes in Kafka responses, by API and error, NONE included; per partition where a response has them (Kafka: ErrorsPerSec)."}, []string{"api", "error"})
	add(m.errors)
	m.inFlight = gauge("kop_kafka_requests_in_flight", "Requests read and not yet answered.")
	m.bytesIn = counter("kop_kafka_request_bytes_total", "Bytes of Kafka requests read.")
	m.bytesOut = counter("kop_kafka_response_bytes_total", "Bytes of Kafka responses written.")
	m.connections = gauge("kop_kafka_connections", "Open Kafka client connections.")
	m.accepted = counter("kop_kafka_connections_accepted_total", "Kafka client connections accepted.")
	m.closed = counter("kop_kafka_connections_closed_total", "Kafka client connections closed, for any reason.")
	m.rejected = counter("kop_kafka_connections_rejected_total", "Connections closed for malformed or unsupported requests.")
	m.refused = counter("kop_kafka_connections_refused_total", "Connections closed at once for exceeding maxConnections or maxConnectionsPerIp.")
	m.authFailures = counter("kop_kafka_authentication_failures_total", "Failed SASL authentications and TLS handshakes.")
	m.budgetWaits = counter("kop_kafka_request_budget_waits_total", "Requests whose body waited for room in queuedMaxRequestBytes (sockets not read meanwhile).")
	m.fetchWaits = gauge("kop_kafka_fetches_waiting", "Fetches parked in their long poll, waiting for data.")
	m.longPolls = counter("kop_kafka_fetch_long_polls_total", "Fetches that found too little and parked until data came or maxWait passed.")
	appendTime := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kop_produce_append_duration_seconds",
		Help: "From a produced batch handed to its partition to its storage acknowledgement (an fsync on the embedded log, a Pulsar send).", Buckets: latencyBuckets})
	add(appendTime)
	m.appendTime = appendTime
	m.topics.init(add)
	return m
}

// maxTopicSeries bounds the topics given series of their own; the others
// count under topic "_other".
const maxTopicSeries = 1000

// topicMetrics are the per-topic counters (Kafka's BrokerTopicMetrics).
type topicMetrics struct {
	bytesIn, bytesOut, messagesIn, messagesOut *prometheus.CounterVec

	known sync.Map // topic → *topicCounters: read on every append and fetch
	mu    sync.Mutex
	n     int // topics in known; guarded by mu
}

type topicCounters struct {
	bytesIn, bytesOut, messagesIn, messagesOut prometheus.Counter
}

func (t *topicMetrics) init(add func(prometheus.Collector)) {
	vec := func(name, help string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"topic"})
		add(v)
		return v
	}
	t.bytesIn = vec("kop_topic_bytes_in_total", "Record batch bytes appended, by topic (Kafka: BytesInPerSec).")
	t.bytesOut = vec("kop_topic_bytes_out_total", "Record batch bytes fetched, by topic (Kafka: BytesOutPerSec).")
	t.messagesIn = vec("kop_topic_messages_in_total", "Records appended, by topic (Kafka: MessagesInPerSec).")
	t.messagesOut = vec("kop_topic_messages_out_total", "Records fetched, by topic.")
}

// of is the counters of a topic.
func (t *topicMetrics) of(topic string) *topicCounters {
	if c, ok := t.known.Load(topic); ok {
		return c.(*topicCounters)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c, ok := t.known.Load(topic); ok {
		return c.(*topicCounters)
	}
	label := topic
	if t.n >= maxTopicSeries {
		label = "_other"
	}
	c := &topicCounters{t.bytesIn.WithLabelValues(label), t.bytesOut.WithLabelValues(label),
		t.messagesIn.WithLabelValues(label), t.messagesOut.WithLabelValues(label)}
	if label != "_other" {
		t.known.Store(topic, c)
		t.n++
	}
	return c
}

// forget drops a deleted topic's series.
func (t *topicMetrics) forget(topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.known.LoadAndDelete(topic); !ok {
		return
	}
	t.n--
	for _, v := range []*prometheus.CounterVec{t.bytesIn, t.bytesOut, t.messagesIn, t.messagesOut} {
		v.DeleteLabelValues(topic)
	}
}

// Collectors are the Server's metrics, for the broker's registry.
func (s *Server) Collectors() []prometheus.Collector { return s.metrics.all }

// observe records a request's times once its response is written:
// received (last byte read), started (handling began), ready (response
// complete) and now.
func (m *metrics) observe(key int16, received, started, ready, now time.Time) {
	if key < 0 || int(key) >= len(m.totalTime) {
		return
	}
	m.totalTime[key].Observe(now.Sub(received).Seconds())
	m.queueTime[key].Observe(started.Sub(received).Seconds())
	m.localTime[key].Observe(ready.Sub(started).Seconds())
	m.sendTime[key].Observe(now.Sub(ready).Seconds())
}

// countErrors adds a response's error codes to kop_kafka_request_errors_total.
func (m *metrics) countErrors(key int16, resp kmsg.Response) {
	type codeCount struct {
		code int16
		n    int
	}
	var buf [4]codeCount
	counts := buf[:0] // few distinct codes: no allocation
	responseErrors(resp, func(code int16) {
		for i := range counts {
			if counts[i].code == code {
				counts[i].n++
				return
			}
		}
		counts = append(counts, codeCount{code, 1})
	})
	if len(counts) == 0 {
		return
	}
	api := kmsg.NameForKey(key)
	for _, c := range counts {
		m.errors.WithLabelValues(api, errorName(c.code)).Add(float64(c.n))
	}
}

func errorName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		if ke, ok := err.(*kerr.Error); ok {
			return ke.Message
		}
	}
	return "UNKNOWN_" + strconv.Itoa(int(code))
}

// responseErrors calls add with each error code of a response: per
// partition (or per resource) where the response has them, else its one
// top-level code. The other APIs (admin ones) are not counted.
func responseErrors(resp kmsg.Response, add func(int16)) {
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				add(p.ErrorCode)
			}
		}
	case *kmsg.FetchResponse:
		if r.ErrorCode != 0 || len(r.Topics) == 0 {
			add(r.ErrorCode)
			return
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				add(p.ErrorCode)
			}
		}
	case *kmsg.ListOffsetsResponse:
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				add(p.ErrorCode)
			}
		}
	case *kmsg.MetadataResponse:
		for _, t := range r.Topics {
			add(t.ErrorCode)
		}
	case *kmsg.OffsetCommitResponse:
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				add(p.ErrorCode)
			}
		}
	case *kmsg.OffsetFetchResponse:
		add(r.ErrorCode)
		for _, g := range r.Groups {
			add(g.ErrorCode)
		}
	case *kmsg.CreateTopicsResponse:
		for _, t := range r.Topics {
			add(t.ErrorCode)
		}
	case *kmsg.DeleteTopicsResponse:
		for _, t := range r.Topics {
			add(t.ErrorCode)
		}
	case *kmsg.DescribeGroupsResponse:
		for _, g := range r.Groups {
			add(g.ErrorCode)
		}
	case *kmsg.FindCoordinatorResponse:
		if len(r.Coordinators) == 0 {
			add(r.ErrorCode)
		}
		for _, c := range r.Coordinators {
			add(c.ErrorCode)
		}
	case *kmsg.JoinGroupResponse:
		add(r.ErrorCode)
	case *kmsg.SyncGroupResponse:
		add(r.ErrorCode)
	case *kmsg.HeartbeatResponse:
		add(r.ErrorCode)
	case *kmsg.LeaveGroupResponse:
		add(r.ErrorCode)
	case *kmsg.ListGroupsResponse:
		add(r.ErrorCode)
	case *kmsg.InitProducerIDResponse:
		add(r.ErrorCode)
	case *kmsg.AddOffsetsToTxnResponse:
		add(r.ErrorCode)
	case *kmsg.EndTxnResponse:
		add(r.ErrorCode)
	case *kmsg.SASLHandshakeResponse:
		add(r.ErrorCode)
	case *kmsg.SASLAuthenticateResponse:
		add(r.ErrorCode)
	case *kmsg.ApiVersionsResponse:
		add(r.ErrorCode)
	case *kmsg.AddPartitionsToTxnResponse:
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				add(p.ErrorCode)
			}
		}
	case *kmsg.TxnOffsetCommitResponse:
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				add(p.ErrorCode)
			}
		}
	}
}
