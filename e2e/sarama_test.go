package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaHandler consumes claims into a shared set and marks each message
// for sarama's auto-commit.
type saramaHandler struct {
	name string
	mu   *sync.Mutex
	seen map[recordID]string
	dups *[]string
	rest chan struct{} // closed once the member got an assignment
	once sync.Once
}

func (h *saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	if len(s.Claims()["sarama-topic"]) > 0 {
		h.once.Do(func() { close(h.rest) })
	}
	return nil
}

func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		id := recordID{m.Partition, m.Offset}
		if prev, ok := h.seen[id]; ok {
			*h.dups = append(*h.dups, fmt.Sprintf("%d/%d by %s and %s", m.Partition, m.Offset, prev, h.name))
		}
		h.seen[id] = h.name
		h.mu.Unlock()
		s.MarkMessage(m, "") // committed by sarama's auto-commit
	}
	return nil
}

// TestSarama: IBM/sarama's cluster admin creates a topic, its idempotent
// producer writes to it, and two members of a sarama consumer group split
// it, commit, and leave.
func TestSarama(t *testing.T) {
	b := startStandalone(t, map[string]string{"groupInitialRebalanceDelayMs": "0"})
	const topic, group, n = "sarama-topic", "sarama-group", 400
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_0_0_0
	cfg.ClientID = "kop-e2e-sarama"

	adm, err := sarama.NewClusterAdmin([]string{b.addr}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 4, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
	mds, err := adm.DescribeTopics([]string{topic})
	if err != nil || len(mds) != 1 || len(mds[0].Partitions) != 4 {
		t.Fatalf("describe: %v %+v", err, mds)
	}

	// Members first, so each record is read once, by the member that owns
	// its partition.
	var (
		mu   sync.Mutex
		seen = map[recordID]string{}
		dups []string
	)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var handlers []*saramaHandler
	for _, name := range []string{"a", "b"} {
		ccfg := sarama.NewConfig()
		ccfg.Version = sarama.V2_0_0_0
		ccfg.ClientID = "sarama-" + name
		ccfg.Consumer.Offsets.Initial = sarama.OffsetOldest
		ccfg.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
		ccfg.Consumer.Group.Session.Timeout = 6 * time.Second
		ccfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
		cg, err := sarama.NewConsumerGroup([]string{b.addr}, group, ccfg)
		if err != nil {
			t.Fatal(err)
		}
		h := &saramaHandler{name: name, mu: &mu, seen: seen, dups: &dups, rest: make(chan struct{})}
		handlers = append(handlers, h)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer cg.Close()
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
					t.Errorf("%s: consume: %v", name, err)
					return
				}
			}
		}()
	}
	defer func() { cancel(); wg.Wait() }()
	for _, h := range handlers {
		select {
		case <-h.rest:
		case <-time.After(60 * time.Second):
			t.Fatalf("member %s got no partitions", h.name)
		}
	}
	waitFor(t, 30*time.Second, "the group to settle with both members", func() bool {
		d, err := adm.DescribeConsumerGroups([]string{group})
		return err == nil && len(d) == 1 && d[0].State == "Stable" && len(d[0].Members) == 2
	})

	pcfg := sarama.NewConfig()
	pcfg.Version = sarama.V2_0_0_0
	pcfg.Producer.Idempotent = true
	pcfg.Producer.RequiredAcks = sarama.WaitForAll
	pcfg.Producer.Return.Successes = true
	pcfg.Net.MaxOpenRequests = 1
	prod, err := sarama.NewSyncProducer([]string{b.addr}, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []*sarama.ProducerMessage
	for i := range n {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(fmt.Sprintf("k%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("v%d", i))})
	}
	if err := prod.SendMessages(msgs); err != nil {
		t.Fatalf("produce: %v", err)
	}
	prod.Close()

	waitFor(t, time.Minute, "the group to read every record", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) >= n
	})
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	got, byA := len(seen), 0
	for _, who := range seen {
		if who == "a" {
			byA++
		}
	}
	d := append([]string(nil), dups...)
	mu.Unlock()
	if len(d) > 0 || got != n || byA == 0 || byA == n {
		t.Fatalf("read %d records (%d by a), duplicates %v", got, byA, d)
	}
	waitFor(t, 30*time.Second, "sarama's commits", func() bool {
		return committedTotal(t, newAdmin(t, b.addr), group, topic) == n
	})
}
