package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterConcurrentCreation: CreateTopics, auto-creation and
// CreatePartitions through all three brokers at once, twenty times over,
// always end with every partition writable: a topic's Pulsar shape has
// one writer (the Raft leader, before it commits the metadata), and no
// broker can leave a stray partition topic behind.
func TestClusterConcurrentCreation(t *testing.T) {
	bs := startClusterOnPulsar(t, 3, nil)
	ctx := testCtx(t, 4*time.Minute)
	var clients []*kgo.Client
	for _, b := range bs {
		clients = append(clients, newClient(t, b.addr, kgo.AllowAutoTopicCreation(),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(45*time.Second)))
	}
	for round := range 20 {
		created, grown, auto := fmt.Sprintf("conc-%d", round), fmt.Sprintf("conc-grow-%d", round), fmt.Sprintf("conc-auto-%d", round)
		if resp, err := newAdmin(t, bs[round%3].addr).CreateTopic(ctx, 2, 1, nil, grown); err != nil || resp.Err != nil {
			t.Fatalf("round %d: CreateTopic %s: %v, %v", round, grown, err, resp)
		}
		// Every broker knows it before it is grown through each (the
		// metadata reaches followers a moment after the write, as in
		// Kafka).
		for i, b := range bs {
			adm := newAdmin(t, b.addr)
			waitFor(t, time.Minute, fmt.Sprintf("broker %d to know %s", i+1, grown), func() bool {
				md, err := adm.Metadata(ctx, grown)
				return err == nil && md.Topics[grown].Err == nil && len(md.Topics[grown].Partitions) == 2
			})
		}
		var wg sync.WaitGroup
		errs := make(chan error, 9)
		for i, b := range bs {
			wg.Add(3)
			go func() { // the same topic created through every broker
				defer wg.Done()
				resp, err := newAdmin(t, b.addr).CreateTopic(ctx, 6, 1, nil, created)
				if err == nil {
					err = resp.Err
				}
				if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
					errs <- fmt.Errorf("CreateTopic %s through broker %d: %w", created, i+1, err)
				}
			}()
			go func() { // the same topic grown through every broker
				defer wg.Done()
				resp, err := newAdmin(t, b.addr).CreatePartitions(ctx, 4, grown)
				if err == nil {
					for _, r := range resp {
						if r.Err != nil && !errors.Is(r.Err, kerr.InvalidPartitions) {
							err = r.Err
						}
					}
				}
				if err != nil {
					errs <- fmt.Errorf("CreatePartitions %s through broker %d: %w", grown, i+1, err)
				}
			}()
			go func() { // auto-created by a produce through every broker
				defer wg.Done()
				if err := clients[i].ProduceSync(ctx, &kgo.Record{Topic: auto, Value: []byte("auto")}).FirstErr(); err != nil {
					errs <- fmt.Errorf("auto-creating %s through broker %d: %w", auto, i+1, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", round, err)
		}
		for topic, n := range map[string]int32{created: 6, grown: 6} {
			// Every broker's metadata has the final shape before a
			// client that asks any of them is given a partition of it
			// (kgo's manual partitioner does not wait for a refresh).
			for i, b := range bs {
				adm := newAdmin(t, b.addr)
				checkFor(t, time.Minute, fmt.Sprintf("broker %d to know %s with %d partitions", i+1, topic, n), func() error {
					md, err := adm.Metadata(ctx, topic)
					if err != nil {
						return err
					}
					if got := len(md.Topics[topic].Partitions); got != int(n) {
						return fmt.Errorf("%d partitions (%v)", got, md.Topics[topic].Err)
					}
					return nil
				})
			}
			var recs []*kgo.Record
			for p := range n {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte("x")})
			}
			if err := clients[round%3].ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Fatalf("round %d: a partition of %s is not writable: %v", round, topic, err)
			}
		}
	}
}

// TestClusterLiveness: an idempotent acks=all producer writes to every
// partition of a topic every few milliseconds and a consumer group reads
// throughout, while brokers of a three-node cluster are killed, frozen and
// restarted and Pulsar restarts. For each event the test prints how long
// the partitions were unwritable (the longest pause between two
// acknowledgements of one partition); it asserts that every partition
// takes writes again (a frozen broker's while it is still frozen), that
// returning brokers get their partitions back, and at the end that no
// acknowledged record is lost or duplicated, the offsets are dense, and
// the group read everything.
func TestClusterLiveness(t *testing.T) {
	bs := startClusterOnPulsar(t, 3, nil)
	ctx := testCtx(t, 12*time.Minute)
	const topic, parts = "liveness", 6
	if resp, err := newAdmin(t, bs[0].addr).CreateTopic(ctx, parts, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("CreateTopic: %v, %v", err, resp)
	}
	var addrs []string
	for _, b := range bs {
		addrs = append(addrs, b.addr)
	}
	load := startLoad(t, ctx, addrs, topic, parts)
	group := startGroupReader(t, ctx, addrs, topic)
	load.waitWritable(t, time.Now(), time.Minute)

	admCl := newClient(t, addrs[0], kgo.SeedBrokers(addrs...))
	adm := kadm.NewClient(admCl)
	// The helpers below take the (sub)test they fail.
	leaders := func(t *testing.T) (controller int32, led map[int32]int32) {
		t.Helper()
		for ctx.Err() == nil {
			md, err := adm.Metadata(ctx, topic)
			if err == nil && md.Controller >= 0 {
				led = map[int32]int32{}
				for _, pd := range md.Topics[topic].Partitions {
					led[pd.Partition] = pd.Leader
				}
				return md.Controller, led
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("no metadata: %v", ctx.Err())
		return
	}
	// pick is a broker leading partitions: the Raft leader or another
	// (waiting for the last event's rebalancing to give it some).
	pick := func(t *testing.T, raftLeader bool) *broker {
		t.Helper()
		var picked *broker
		waitFor(t, time.Minute, fmt.Sprintf("a broker leading partitions (the Raft leader: %v)", raftLeader), func() bool {
			controller, led := leaders(t)
			for id := int32(1); id <= 3; id++ {
				if (id == controller) == raftLeader && slices.Contains(slices.Collect(mapValues(led)), id) {
					picked = bs[id-1]
					return true
				}
			}
			return false
		})
		return picked
	}
	idOf := func(b *broker) int32 { return int32(slices.Index(bs, b) + 1) }
	// comeBack waits until the restarted broker leads its share of the
	// partitions again and so does every other (the moves back to the
	// preferred leaders are done, so the next event does not overlap
	// them) and reports the pause those moves caused.
	comeBack := func(t *testing.T, event string, b *broker) {
		t.Helper()
		from := time.Now()
		share := int(parts) / len(bs)
		waitFor(t, time.Minute, fmt.Sprintf("every broker leading its %d partitions (broker %d back) after %s, by the metadata of every broker", share, idOf(b), event), func() bool {
			// Asked of each broker: one just restarted may answer
			// from state it has not caught up yet.
			for id := int32(1); id <= int32(len(bs)); id++ {
				req := kmsg.NewPtrMetadataRequest()
				rt := kmsg.NewMetadataRequestTopic()
				rt.Topic = kmsg.StringPtr(topic)
				req.Topics = append(req.Topics, rt)
				resp, err := req.RequestWith(ctx, admCl.Broker(int(id)))
				if err != nil || len(resp.Topics) != 1 {
					return false
				}
				n := map[int32]int{}
				for _, p := range resp.Topics[0].Partitions {
					n[p.Leader]++
				}
				for want := int32(1); want <= int32(len(bs)); want++ {
					if n[want] != share {
						return false
					}
				}
			}
			return true
		})
		load.report(t, event+": partitions moving back", from, load.waitWritable(t, time.Now(), time.Minute))
	}

	// kill9 kills a broker leading partitions, then restarts it.
	kill9 := func(t *testing.T, raftLeader bool, event string) {
		b := pick(t, raftLeader)
		at := time.Now()
		b.kill9()
		load.report(t, event, at, load.waitWritable(t, at, time.Minute))
		b.start()
		comeBack(t, event, b)
	}
	t.Run("kill-follower", func(t *testing.T) { kill9(t, false, "kill -9 of a follower") })
	t.Run("kill-raft-leader", func(t *testing.T) { kill9(t, true, "kill -9 of the Raft leader") })
	// freeze stops a broker leading partitions with SIGSTOP: its
	// partitions must take writes elsewhere while it is still frozen (the
	// wait fails the test at the freeze's end), and after SIGCONT it gets
	// them back by rebalancing; the final check finds nothing it wrote
	// after the takeover.
	freeze := func(t *testing.T, raftLeader bool, event string) {
		const freeze = 20 * time.Second
		b := pick(t, raftLeader)
		at := time.Now()
		b.signal(syscall.SIGSTOP)
		defer b.signal(syscall.SIGCONT) // also when the wait below fails
		recovered := load.waitWritable(t, at, freeze)
		b.signal(syscall.SIGCONT)
		load.report(t, event+" (while still frozen)", at, recovered)
		comeBack(t, event+" and SIGCONT", b)
	}
	t.Run("freeze-follower", func(t *testing.T) { freeze(t, false, "SIGSTOP of a partition leader") })
	t.Run("freeze-raft-leader", func(t *testing.T) { freeze(t, true, "SIGSTOP of the Raft leader") })
	t.Run("rolling-restart", func(t *testing.T) {
		for _, b := range bs {
			at := time.Now()
			b.stop()
			load.report(t, fmt.Sprintf("SIGTERM of broker %d", idOf(b)), at, load.waitWritable(t, at, time.Minute))
			b.start()
			comeBack(t, fmt.Sprintf("restart of broker %d", idOf(b)), b)
		}
	})
	t.Run("pulsar-restart", func(t *testing.T) {
		p := sharedPulsar(t)
		if p.Dir == "" {
			t.Fatal("the Pulsar of this run was started elsewhere (KOP_TEST_PULSAR_URL): it cannot be restarted here; unset it to run this check")
		}
		// From a settled cluster: every partition's leader has its log
		// open (a move still opening when Pulsar goes is another event).
		load.waitWritable(t, time.Now(), time.Minute)
		if err := p.Restart(); err != nil {
			t.Fatal(err)
		}
		up := time.Now()
		recovered := load.waitWritable(t, up, 2*time.Minute)
		msg := fmt.Sprintf("UNWRITABLE %-55s %5.1f s", "Pulsar down and up, after it answers again:", recovered.Sub(up).Seconds())
		t.Log(msg)
		fmt.Println(msg)
	})

	acked := load.stop(t)
	// The log itself, read up to each partition's end: every
	// acknowledged record once, nothing twice, dense offsets.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	ends.Each(func(o kadm.ListedOffset) { total += int(o.Offset) })
	got := consumeAll(t, addrs[0], topic, total)
	checkDense(t, got)
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Key)]++
	}
	for k, n := range seen {
		if n > 1 {
			t.Fatalf("record %s is in the log %d times (idempotent producer)", k, n)
		}
	}
	for k := range acked {
		if seen[k] == 0 {
			t.Fatalf("acknowledged record %s is lost", k)
		}
	}
	// The group: everything acknowledged, read at least once.
	if missing := group.waitRead(acked, time.Minute); len(missing) > 0 {
		where := map[string]*kgo.Record{}
		for _, r := range got {
			where[string(r.Key)] = r
		}
		var at []string
		for _, k := range missing[:min(3, len(missing))] {
			r := where[k]
			at = append(at, fmt.Sprintf("%s at %d/%d (group: %s)", k, r.Partition, r.Offset, group.around(r.Partition, r.Offset)))
		}
		t.Fatalf("the consumer group has not read %d acknowledged records after a minute (all are in the log), e.g. %s", len(missing), strings.Join(at, "; "))
	}
	t.Logf("%d records acknowledged, all read back once; the group read them too", len(acked))
}

func mapValues[K comparable, V any](m map[K]V) func(func(V) bool) {
	return func(yield func(V) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

// load produces to every partition of a topic every few milliseconds
// with an idempotent acks=all producer and remembers what was
// acknowledged and when.
type load struct {
	cl     *kgo.Client
	topic  string
	parts  int32
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	acked map[string]bool
	acks  map[int32][]ack // per partition, in acknowledgement order
	err   error
}

type ack struct{ produced, acked time.Time }

func startLoad(t *testing.T, ctx context.Context, addrs []string, topic string, parts int32) *load {
	l := &load{topic: topic, parts: parts, done: make(chan struct{}), acked: map[string]bool{}, acks: map[int32][]ack{}}
	// A record that cannot be delivered in a minute fails the test
	// instead of hanging it. The client gives up on an unresponsive
	// (frozen) broker after 4 s and refreshes metadata at most every
	// 500 ms (franz-go's defaults, 20 s and 5 s, would measure the
	// client rather than the cluster).
	l.cl = newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(time.Minute),
		kgo.MaxBufferedRecords(20_000), kgo.ProduceRequestTimeout(3*time.Second),
		kgo.RequestTimeoutOverhead(time.Second), kgo.MetadataMinAge(500*time.Millisecond))
	lctx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	go func() {
		defer close(l.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-lctx.Done():
				return
			case <-tick.C:
			}
			for p := range parts {
				produced := time.Now()
				key := fmt.Sprintf("p%d-%d", p, seq)
				l.cl.Produce(lctx, &kgo.Record{Partition: p, Key: []byte(key), Value: []byte(key)}, func(r *kgo.Record, err error) {
					l.mu.Lock()
					defer l.mu.Unlock()
					if err != nil {
						if l.err == nil && lctx.Err() == nil {
							l.err = fmt.Errorf("record %s: %w", key, err)
						}
						return
					}
					l.acked[key] = true
					l.acks[r.Partition] = append(l.acks[r.Partition], ack{produced, time.Now()})
				})
			}
		}
	}()
	return l
}

// waitWritable waits until every partition has acknowledged a record
// produced after since, and returns when the last of them did.
func (l *load) waitWritable(t *testing.T, since time.Time, d time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		l.mu.Lock()
		err := l.err
		var last time.Time
		ok := true
		for p := range l.parts {
			i := slices.IndexFunc(l.acks[p], func(a ack) bool { return a.produced.After(since) })
			if i < 0 {
				ok = false
				break
			}
			if a := l.acks[p][i].acked; a.After(last) {
				last = a
			}
		}
		l.mu.Unlock()
		if err != nil {
			t.Fatalf("the producer failed: %v", err)
		}
		if ok {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("some partition took no write for %s after %s", d, since.Format(time.TimeOnly))
			return last
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// report prints how long partitions were unwritable around an event at
// at, up to when all took writes again: the longest pause between two
// acknowledgements of one partition.
func (l *load) report(t *testing.T, event string, at, recovered time.Time) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var worst time.Duration
	var worstP int32
	for p := range l.parts {
		acks := l.acks[p]
		for i := 1; i < len(acks); i++ {
			if acks[i].acked.Before(at) || acks[i-1].acked.After(recovered) {
				continue
			}
			if g := acks[i].acked.Sub(acks[i-1].acked); g > worst {
				worst, worstP = g, p
			}
		}
	}
	msg := fmt.Sprintf("UNWRITABLE %-55s %5.1f s (partition %d)", event+":", worst.Seconds(), worstP)
	t.Log(msg)
	fmt.Println(msg)
}

// stop ends the load, waits for every record in flight and returns the
// acknowledged keys.
func (l *load) stop(t *testing.T) map[string]bool {
	t.Helper()
	l.cancel()
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.cl.Flush(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("flushing the producer: %v", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		t.Fatalf("the producer failed: %v", l.err)
	}
	return l.acked
}

// groupReader is a consumer group member reading throughout, committing
// as it goes (at least once: a rebalance may give it records twice).
type groupReader struct {
	mu     sync.Mutex
	seen   map[string]bool
	offs   map[int32][]int64 // offsets received per partition, in order
	errors []string          // the first fetch errors, for a failure's message
}

// around describes what the group received of partition p near offset o.
func (g *groupReader) around(p int32, o int64) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var near []string
	for i, x := range g.offs[p] {
		if x >= o-2 && x <= o+2 {
			near = append(near, fmt.Sprintf("#%d:%d", i, x))
		}
	}
	return fmt.Sprintf("partition %d near %d: %v; fetch errors: %v", p, o, near, g.errors)
}

func startGroupReader(t *testing.T, ctx context.Context, addrs []string, topic string) *groupReader {
	g := &groupReader{seen: map[string]bool{}, offs: map[int32][]int64{}}
	cl := newClient(t, addrs[0], kgo.SeedBrokers(addrs...), kgo.ConsumerGroup("liveness-group"),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for rctx.Err() == nil {
			fs := cl.PollFetches(rctx)
			g.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				g.seen[string(r.Key)] = true
				g.offs[r.Partition] = append(g.offs[r.Partition], r.Offset)
			})
			fs.EachError(func(topic string, p int32, err error) {
				if len(g.errors) < 20 && rctx.Err() == nil {
					g.errors = append(g.errors, fmt.Sprintf("%s/%d: %v", topic, p, err))
				}
			})
			g.mu.Unlock()
		}
	}()
	return g
}

// waitRead waits up to d until the group has read every key of want and
// returns the keys it has not read (sorted; none when it read them all).
func (g *groupReader) waitRead(want map[string]bool, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		g.mu.Lock()
		var missing []string
		for k := range want {
			if !g.seen[k] {
				missing = append(missing, k)
			}
		}
		g.mu.Unlock()
		if len(missing) == 0 || time.Now().After(deadline) {
			slices.Sort(missing)
			return missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}
