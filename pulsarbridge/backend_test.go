package pulsarbridge

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"

	"github.com/kop-project/kop/internal/pulsartest"
	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/scope"
	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/storagetest"
)

var testPulsar *pulsartest.Pulsar

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" || testing.Short() {
		// Fuzzing a decoder, or -short (make unit): no Pulsar; the
		// tests that need one skip (newBackendWith).
		os.Exit(m.Run())
	}
	p, err := pulsartest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting Pulsar:", err)
		os.Exit(1)
	}
	testPulsar = p
	code := m.Run()
	if err := p.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping Pulsar:", err)
	}
	os.Exit(code)
}

func newBackend(t testing.TB) *Backend { return newBackendWith(t, nil) }

// newBackendWith is newBackend with its options changed by set.
func newBackendWith(t testing.TB, set func(*Options)) *Backend {
	t.Helper()
	if testPulsar == nil {
		t.Skip("-short: no Pulsar started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := Options{
		ServiceURL: testPulsar.ServiceURL, WebServiceURL: testPulsar.WebURL,
		Tenant: "kop-test", Namespace: "storage",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if set != nil {
		set(&opts)
	}
	b, err := New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestConformance runs the storage conformance suite against real Pulsar,
// with both entry formats.
func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return newBackend(t) })
}

func TestConformancePulsarFormat(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return pulsarFormat{newBackend(t)} })
}

// pulsarFormat opens every partition with entryFormat=pulsar.
type pulsarFormat struct{ *Backend }

func (p pulsarFormat) Open(ctx context.Context, tp storage.TopicPartition, cfg storage.TopicConfig) (storage.PartitionLog, error) {
	cfg.EntryFormat = "pulsar"
	return p.Backend.Open(ctx, tp, cfg)
}

// TestBatchOverPulsarMaxMessageSize: a batch Pulsar refuses as too big is
// MESSAGE_TOO_LARGE (not retriable), and the log goes on.
func TestBatchOverPulsarMaxMessageSize(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	ctx := context.Background()
	cfg := storagetest.Config()
	cfg.MaxMessageBytes = 64 << 20
	l, err := storagetest.Open(ctx, b, storage.TopicPartition{Topic: fmt.Sprintf("big-%d", time.Now().UnixNano()), Partition: 0}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Pulsar's default bookie frame limit is 5 MiB: a 6 MiB batch must
	// get through (deploy/pulsar raises the limits to 12 MiB) ...
	big := storagetest.MakeBatch(t, 1, 6<<20, 1)
	if res, err := l.Append(ctx, 0, []storage.Batch{{Raw: big}}); err != nil || res.BaseOffset != 0 {
		t.Fatalf("append of a 6 MiB batch: %+v, %v", res, err)
	}
	if rr, err := l.Read(ctx, 0, 1); err != nil || len(rr.Records) != len(big) {
		t.Fatalf("read of the 6 MiB batch: %d bytes, %v", len(rr.Records), err)
	}
	// ... and one over 12 MiB is refused as too large.
	huge := storagetest.MakeBatch(t, 1, 13<<20, 1)
	_, err = l.Append(ctx, 0, []storage.Batch{{Raw: huge}})
	if !errors.Is(err, storage.ErrMessageTooLarge) {
		t.Fatalf("append of a 13 MiB batch: %v, want ErrMessageTooLarge", err)
	}
	res, err := l.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 2, 10, 1)}})
	if err != nil || res.BaseOffset != 1 || l.LogEndOffset() != 3 {
		t.Fatalf("append after the refusal: %+v, %v; end %d", res, err, l.LogEndOffset())
	}
}

// TestRetention: Kafka's retention.ms and retention.bytes become the Pulsar
// topic's retention policy, and when Pulsar drops old ledgers the log start
// offset follows.
func TestRetention(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	ctx := context.Background()
	topic := fmt.Sprintf("retention-%d", time.Now().UnixNano())
	cfg := storagetest.Config()
	cfg.RetentionMs, cfg.RetentionBytes = 2*3600*1000+1, 10<<20
	pl, err := storagetest.Open(ctx, b, storage.TopicPartition{Topic: topic}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := pl.(*partitionLog)
	defer l.Close()
	tn, _ := utils.GetTopicName(b.topicName(topic))
	// Topic policies reach the admin API through Pulsar's system topic,
	// a moment after they are set.
	waitRetention := func(minutes int, mb int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			pol, err := b.admin.Topics().GetRetention(*tn, false)
			if err == nil && pol != nil && pol.RetentionTimeInMinutes == minutes && pol.RetentionSizeInMB == mb {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Pulsar retention %+v, %v; want %d minutes, %d MB", pol, err, minutes, mb)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitRetention(121, 10)
	cfg.RetentionMs, cfg.RetentionBytes = -1, -1
	l.SetConfig(cfg)
	waitRetention(-1, -1)

	// Three batches in a first ledger, two in a second; dropping the
	// first ledger (what retention does) moves the log start to 6.
	for range 3 {
		if _, err := l.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 2, 10, 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	ptn, _ := utils.GetTopicName(l.topic)
	if err := b.admin.Topics().Unload(*ptn); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		var err error
		for i := 0; i < 50; i++ { // the producer reconnects after the unload
			if _, err = l.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 2, 10, 1)}}); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	req, _ := http.NewRequest(http.MethodDelete, testPulsar.WebURL+"/admin/v2/persistent/kop-test/storage/"+topic+"-partition-0/truncate", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("truncate: %s", resp.Status)
	}
	if err := l.refreshStart(ctx); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 6 || l.LogEndOffset() != 10 {
		t.Fatalf("after the first ledger was dropped: start %d end %d, want 6 10", l.LogStartOffset(), l.LogEndOffset())
	}
	if _, err := l.Read(ctx, 5, 1<<20); !errors.Is(err, storage.ErrOffsetOutOfRange) {
		t.Fatalf("read below the new start: %v", err)
	}
	if res, err := l.Read(ctx, 6, 1<<20); err != nil || len(res.Records) == 0 {
		t.Fatalf("read at the new start: %v", err)
	}
}

// TestOpenNeverChangesShape: opening a partition that Pulsar's
// partitioned topic does not have yet fails as unavailable (retriable) and
// leaves Pulsar as it was: no growth, and no stray non-partitioned
// T-partition-N (KOP's namespace has auto-creation off). Once EnsureTopic
// (the Raft leader's job) has grown the topic, the partition opens.
func TestOpenNeverChangesShape(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	topic := fmt.Sprintf("shape-%d", time.Now().UnixNano())
	if err := b.EnsureTopic(ctx, topic, 2); err != nil {
		t.Fatal(err)
	}
	tp := storage.TopicPartition{Topic: topic, Partition: 4}
	if l, err := b.Open(ctx, tp, storagetest.Config()); !errors.Is(err, storage.ErrUnavailable) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("open partition 4 of a topic with 2 partitions: %v, want ErrUnavailable", err)
	}
	tn, _ := utils.GetTopicName(b.topicName(topic))
	if md, err := b.admin.Topics().GetMetadata(*tn); err != nil || md.Partitions != 2 {
		t.Fatalf("partitions after the refused open: %+v, %v; want 2", md, err)
	}
	if strays := strayTopics(t, b, topic); len(strays) != 0 {
		t.Fatalf("the refused open left non-partitioned topics %v", strays)
	}
	if err := b.EnsureTopic(ctx, topic, 5); err != nil {
		t.Fatal(err)
	}
	l, err := b.Open(ctx, tp, storagetest.Config())
	if err != nil {
		t.Fatalf("open partition 4 after growing the topic to 5: %v", err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 2, 10, 1)}}); err != nil {
		t.Fatal(err)
	}
}

// strayTopics lists the topics named like partitions of topic beyond the
// partitions its partitioned topic has.
func strayTopics(t *testing.T, b *Backend, topic string) []string {
	t.Helper()
	ns, _ := utils.GetNamespaceName(b.opts.Tenant + "/" + b.opts.Namespace)
	_, topics, err := b.admin.Topics().List(*ns)
	if err != nil {
		t.Fatal(err)
	}
	have := 0
	tn, _ := utils.GetTopicName(b.topicName(topic))
	if md, err := b.admin.Topics().GetMetadata(*tn); err == nil {
		have = md.Partitions
	}
	var out []string
	for _, n := range topics {
		idx, ok := strings.CutPrefix(n, b.topicName(topic)+partitionSuffix)
		if p, err := strconv.Atoi(idx); ok && err == nil && p >= have {
			out = append(out, n)
		}
	}
	return out
}

// TestEnsureTopicRemovesEmptyStray: a non-partitioned T-partition-N left
// where a partition must go (auto-creation before KOP turned it off) is
// deleted when empty, so the topic still grows; one holding data is named
// in the error and kept.
func TestEnsureTopicRemovesEmptyStray(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := b.ensureNamespace(ctx, scope.Default); err != nil {
		t.Fatal(err)
	}
	// Pulsar's admin API refuses to create such a topic: strays come from
	// auto-creation, turned on here for a moment as another tool (or an
	// older KOP) would have left it.
	ns, _ := utils.GetNamespaceName(b.opts.Tenant + "/" + b.opts.Namespace)
	setAuto := func(allow bool) {
		if err := b.admin.Namespaces().SetTopicAutoCreation(*ns, utils.TopicAutoCreationConfig{Allow: allow, Type: utils.NonPartitioned}); err != nil {
			t.Fatal(err)
		}
	}
	stray := func(topic string, p int, payload string) utils.TopicName {
		tn, _ := utils.GetTopicName(fmt.Sprintf("%s%s%d", b.topicName(topic), partitionSuffix, p))
		setAuto(true)
		defer setAuto(false)
		prod, err := b.client.CreateProducer(pulsar.ProducerOptions{Topic: tn.String()})
		if err != nil {
			t.Fatalf("auto-creating the stray %s: %v", tn, err)
		}
		defer prod.Close()
		if payload != "" {
			if _, err := prod.Send(ctx, &pulsar.ProducerMessage{Payload: []byte(payload)}); err != nil {
				t.Fatal(err)
			}
		}
		return *tn
	}
	// A stray can only be made before its partitioned topic exists.
	empty := fmt.Sprintf("stray-empty-%d", time.Now().UnixNano())
	stray(empty, 3, "")
	if err := b.EnsureTopic(ctx, empty, 2); err != nil {
		t.Fatal(err)
	}
	if err := b.EnsureTopic(ctx, empty, 4); err != nil {
		t.Fatalf("growing past an empty stray: %v", err)
	}
	if s := strayTopics(t, b, empty); len(s) != 0 {
		t.Fatalf("strays left: %v", s)
	}
	l, err := b.Open(ctx, storage.TopicPartition{Topic: empty, Partition: 3}, storagetest.Config())
	if err != nil {
		t.Fatalf("open partition 3 after the repair: %v", err)
	}
	l.Close()

	full := fmt.Sprintf("stray-full-%d", time.Now().UnixNano())
	tn := stray(full, 2, "somebody's data")
	err = b.EnsureTopic(ctx, full, 3)
	if err == nil || !strings.Contains(err.Error(), tn.String()) {
		t.Fatalf("growing past a stray holding data: %v; want an error naming %s", err, tn.String())
	}
	if s := strayTopics(t, b, full); len(s) != 1 {
		t.Fatalf("the stray holding data is gone: %v", s)
	}
}

// TestOpenTakesOver: a broker opening a partition as its new leader forces
// the previous writer's producer off (a frozen or cut-off broker cannot
// hold it), and the previous writer can never write again: its appends
// fail and repairing does not take the partition back. The new writer
// continues the offsets densely.
func TestOpenTakesOver(t *testing.T) {
	oldB, newB := newBackend(t), newBackend(t)
	defer oldB.Close()
	defer newB.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tp := storage.TopicPartition{Topic: fmt.Sprintf("takeover-%d", time.Now().UnixNano()), Partition: 0}
	old, err := storagetest.Open(ctx, oldB, tp, storagetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := old.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 5, 10, 1)}}); err != nil {
		t.Fatal(err)
	}
	nl, err := newB.Open(ctx, tp, storagetest.Config())
	if err != nil {
		t.Fatalf("opening while another broker's producer holds the partition: %v", err)
	}
	defer nl.Close()
	if nl.LogEndOffset() != 5 {
		t.Fatalf("the new writer starts at %d, want 5", nl.LogEndOffset())
	}
	// The old writer may need a moment to learn its producer is gone;
	// whatever it tries, nothing of it reaches the log.
	for i := 0; i < 3; i++ {
		_, err := old.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 1, 10, 1)}})
		if err == nil {
			t.Fatalf("the old writer's append %d was acknowledged after the takeover", i)
		}
		if errors.Is(err, storage.ErrNeedsSettle) {
			if serr := old.(storage.AsyncAppender).Settle(ctx); !errors.Is(serr, storage.ErrFenced) {
				t.Fatalf("the old writer settling after the takeover: %v, want ErrFenced", serr)
			}
		}
	}
	res, err := nl.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 3, 10, 1)}})
	if err != nil || res.BaseOffset != 5 {
		t.Fatalf("the new writer's append: %+v, %v; want base offset 5", res, err)
	}
	checkDense(t, nl, 0, 8)
}

// TestTakeoverConfirmedFenceSticks: a broker forces another writer off a
// partition only when ConfirmTakeover agrees (a refused one leaves the
// writer alone), and a log that was forced off never writes again, even
// once nobody else holds the topic (it does not reconnect by itself).
func TestTakeoverConfirmedFenceSticks(t *testing.T) {
	notLeader := errors.New("broker 2 leads it")
	var asked atomic.Int32
	oldB := newBackend(t)
	refusedB := newBackendWith(t, func(o *Options) {
		o.ConfirmTakeover = func(context.Context, storage.TopicPartition) error { asked.Add(1); return notLeader }
	})
	newB := newBackendWith(t, func(o *Options) {
		o.ConfirmTakeover = func(context.Context, storage.TopicPartition) error { return nil }
	})
	defer oldB.Close()
	defer refusedB.Close()
	defer newB.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tp := storage.TopicPartition{Topic: fmt.Sprintf("confirm-%d", time.Now().UnixNano()), Partition: 0}
	old, err := storagetest.Open(ctx, oldB, tp, storagetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if _, err := old.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 5, 10, 1)}}); err != nil {
		t.Fatal(err)
	}

	if l, err := refusedB.Open(ctx, tp, storagetest.Config()); !errors.Is(err, storage.ErrFenced) || !errors.Is(err, notLeader) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("open refused by ConfirmTakeover: %v, want ErrFenced wrapping %v", err, notLeader)
	}
	if asked.Load() != 1 {
		t.Fatalf("ConfirmTakeover asked %d times, want 1", asked.Load())
	}
	if res, err := old.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 1, 10, 1)}}); err != nil || res.BaseOffset != 5 {
		t.Fatalf("the writer after a refused takeover: %+v, %v; want base offset 5", res, err)
	}

	nl, err := newB.Open(ctx, tp, storagetest.Config())
	if err != nil {
		t.Fatalf("a confirmed takeover: %v", err)
	}
	if nl.LogEndOffset() != 6 {
		t.Fatalf("the new writer starts at %d, want 6", nl.LogEndOffset())
	}
	// The forced-off writer learns it at its next append or settle.
	fenced := false
	for i := 0; i < 3 && !fenced; i++ {
		_, err := old.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 1, 10, 1)}})
		if err == nil {
			t.Fatalf("the old writer's append %d was acknowledged after the takeover", i)
		}
		fenced = errors.Is(err, storage.ErrFenced)
	}
	if !fenced {
		t.Fatal("the old writer never answered ErrFenced after the takeover")
	}
	// Nobody holds the topic now; the old writer still refuses.
	if err := nl.Close(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := old.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 1, 10, 1)}}); !errors.Is(err, storage.ErrFenced) {
			t.Fatalf("append %d of a forced-off log once the topic is free: %v, want ErrFenced", i, err)
		}
		if err := old.(storage.AsyncAppender).Settle(ctx); !errors.Is(err, storage.ErrFenced) {
			t.Fatalf("settle %d of a forced-off log once the topic is free: %v, want ErrFenced", i, err)
		}
	}
	again, err := newB.Open(ctx, tp, storagetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	checkDense(t, again, 0, 6)
}

// TestReadNeverSkips: a reader that delivers an entry after a hole (here
// placed by a wrong index point) is not believed: the read starts again
// from a searched position and returns the offset asked for.
func TestReadNeverSkips(t *testing.T) {
	b := newBackend(t)
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sl, err := storagetest.Open(ctx, b, storage.TopicPartition{Topic: fmt.Sprintf("gap-%d", time.Now().UnixNano())}, storagetest.Config())
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	for range 5 {
		if _, err := sl.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 1, 10, 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	l := sl.(*partitionLog)
	id3, pos, err := l.locateEntry(ctx, 3, false)
	if err != nil || pos.base != 3 {
		t.Fatalf("searching offset 3: %v at %+v", err, pos)
	}
	// The index now says offset 2 is in the entry that holds 3.
	l.mu.Lock()
	l.index, l.indexedFrom = []indexPoint{{base: 2, id: id3}}, 0
	l.mu.Unlock()
	res, err := l.Read(ctx, 2, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Release()
	batches, err := recordbatch.Split(res.Records)
	if err != nil || len(batches) == 0 || batches[0].Header.BaseOffset != 2 {
		t.Fatalf("read at 2 gave %d batches (%v), want the first at offset 2", len(batches), err)
	}
}
