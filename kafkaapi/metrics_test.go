package kafkaapi

import (
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTopicSeriesCap: topics beyond maxTopicSeries count under "_other";
// a deleted topic's series go and make room.
func TestTopicSeriesCap(t *testing.T) {
	m := newMetrics()
	for i := range maxTopicSeries {
		m.topics.of("t" + strconv.Itoa(i)).messagesIn.Inc()
	}
	m.topics.of("late").messagesIn.Add(5)
	if got := testutil.ToFloat64(m.topics.messagesIn.WithLabelValues("_other")); got != 5 {
		t.Fatalf("a topic over the cap counted %v under _other, want 5", got)
	}
	if n := testutil.CollectAndCount(m.topics.messagesIn); n != maxTopicSeries+1 {
		t.Fatalf("%d series, want %d", n, maxTopicSeries+1)
	}
	m.topics.forget("t0")
	m.topics.of("later").messagesIn.Inc()
	if got := testutil.ToFloat64(m.topics.messagesIn.WithLabelValues("later")); got != 1 {
		t.Fatalf("after a deletion a new topic counted %v under its own name", got)
	}
}

// TestCountErrors: per-partition codes of a produce response, NONE
// included, and nothing for APIs whose codes are not broken down.
func TestCountErrors(t *testing.T) {
	m := newMetrics()
	resp := kmsg.NewPtrProduceResponse()
	rt := kmsg.NewProduceResponseTopic()
	for _, code := range []int16{0, 0, kerr.NotLeaderForPartition.Code, 0, kerr.MessageTooLarge.Code, kerr.NotLeaderForPartition.Code} {
		p := kmsg.NewProduceResponseTopicPartition()
		p.ErrorCode = code
		rt.Partitions = append(rt.Partitions, p)
	}
	resp.Topics = append(resp.Topics, rt)
	m.countErrors(0, resp)
	for code, want := range map[string]float64{"NONE": 3, "NOT_LEADER_FOR_PARTITION": 2, "MESSAGE_TOO_LARGE": 1} {
		if got := testutil.ToFloat64(m.errors.WithLabelValues("Produce", code)); got != want {
			t.Errorf("Produce %s: %v, want %v", code, got, want)
		}
	}
	m.countErrors(32, kmsg.NewPtrDescribeConfigsResponse())
	if n := testutil.CollectAndCount(m.errors); n != 3 {
		t.Errorf("%d error series, want the 3 of the produce response", n)
	}
}
