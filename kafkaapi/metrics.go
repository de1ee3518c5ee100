package kafkaapi

import (
	"fmt"
	"io"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// metrics are the Server's counters, exposed in Prometheus text format on
// the broker's /metrics endpoint.
type metrics struct {
	requests     [maxKey + 1]atomic.Int64
	bytesIn      atomic.Int64
	bytesOut     atomic.Int64
	connections  atomic.Int64
	accepted     atomic.Int64
	rejected     atomic.Int64 // connections closed for bad input
	refused      atomic.Int64 // connections closed at accept: over a connection cap
	fetchWaits   atomic.Int64 // fetches parked in their long poll now
	budgetWaits  atomic.Int64 // request bodies that waited for queuedMaxRequestBytes
	authFailures atomic.Int64 // failed SASL authentications and TLS handshakes
}

// WriteMetrics writes the counters in Prometheus text exposition format.
func (s *Server) WriteMetrics(w io.Writer) {
	m := &s.metrics
	fmt.Fprintln(w, "# HELP kop_kafka_requests_total Kafka requests handled, by API.")
	fmt.Fprintln(w, "# TYPE kop_kafka_requests_total counter")
	for key := range m.requests {
		if n := m.requests[key].Load(); n > 0 {
			fmt.Fprintf(w, "kop_kafka_requests_total{api=%q} %d\n", kmsg.NameForKey(int16(key)), n)
		}
	}
	for _, c := range []struct {
		name, help, typ string
		v               int64
	}{
		{"kop_kafka_request_bytes_total", "Bytes of Kafka requests read.", "counter", m.bytesIn.Load()},
		{"kop_kafka_response_bytes_total", "Bytes of Kafka responses written.", "counter", m.bytesOut.Load()},
		{"kop_kafka_connections", "Open Kafka client connections.", "gauge", m.connections.Load()},
		{"kop_kafka_connections_accepted_total", "Kafka client connections accepted.", "counter", m.accepted.Load()},
		{"kop_kafka_connections_rejected_total", "Connections closed for malformed or unsupported requests.", "counter", m.rejected.Load()},
		{"kop_kafka_connections_refused_total", "Connections closed at once for exceeding maxConnections or maxConnectionsPerIp.", "counter", m.refused.Load()},
		{"kop_kafka_fetches_waiting", "Fetches parked in their long poll, waiting for data.", "gauge", m.fetchWaits.Load()},
		{"kop_kafka_authentication_failures_total", "Failed SASL authentications and TLS handshakes.", "counter", m.authFailures.Load()},
		{"kop_kafka_request_budget_waits_total", "Requests whose body waited for room in queuedMaxRequestBytes (sockets not read meanwhile).", "counter", m.budgetWaits.Load()},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", c.name, c.help, c.name, c.typ, c.name, c.v)
	}
}
