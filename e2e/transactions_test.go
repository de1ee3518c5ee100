package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// txnBrokerConf makes timed-out transactions abort within a second of
// their timeout instead of Kafka's ten.
var txnBrokerConf = map[string]string{
	"groupInitialRebalanceDelayMs":                         "0",
	"transactionAbortTimedOutTransactionCleanupIntervalMs": "500",
}

// TestJavaTransactions runs the transactional demo of kafka-clients 2.0.0
// and 3.9.1 (examples/kafka-examples TransactionalDemo): commit and abort
// seen through read_committed and read_uncommitted readers, a
// consume-transform-produce loop committing its offsets in its
// transactions, fencing by a second producer of the same transactional
// id, and a producer killed mid-transaction whose records stay invisible
// to read_committed readers until its timeout aborts them. On the embedded
// log and on Pulsar (2.0.0; both entry formats' storage is the same for
// markers).
func TestJavaTransactions(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Run("embedded", func(t *testing.T) {
		b := startStandalone(t, txnBrokerConf)
		for _, v := range javaClientVersions {
			t.Run(v, func(t *testing.T) { checkJavaTransactions(t, b.addr, v) })
		}
	})
	t.Run("pulsar", func(t *testing.T) {
		b, _, _ := startOnPulsar(t, txnBrokerConf)
		checkJavaTransactions(t, b.addr, "2.0.0")
	})
}

func checkJavaTransactions(t *testing.T, addr, version string) {
	s := strings.ReplaceAll(version, ".", "-")
	demo := func(want string, args ...string) {
		t.Helper()
		out := javaDemo(t, version, "transactional", append([]string{"--bootstrap", addr}, args...)...)
		if !strings.Contains(out, want) {
			t.Fatalf("transactional demo %v: want %q in\n%s", args, want, tail([]byte(out)))
		}
	}
	demo("transactional done: committed=40 aborted=20",
		"--mode", "commit-abort", "--topic", "ca-"+s, "--partitions", "3", "--count", "20", "--transactional-id", "ca-"+s)
	demo("transactional done: fenced",
		"--mode", "fence", "--topic", "fence-"+s, "--partitions", "2", "--count", "3", "--transactional-id", "fence-"+s)

	// Consume-transform-produce over a non-transactional input.
	ctx := testCtx(t, 2*time.Minute)
	adm := newAdmin(t, addr)
	in := "ctp-in-" + s
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, in); err != nil {
		t.Fatal(err)
	}
	produceN(t, newClient(t, addr), in, 50)
	demo("transactional done: transformed=50",
		"--mode", "consume-transform-produce", "--input", in, "--output", "ctp-out-"+s, "--partitions", "2",
		"--group", "ctp-g-"+s, "--transactional-id", "ctp-"+s, "--count", "50")

	// A producer halted mid-transaction: its records stay invisible, and
	// read_committed readers reach the end once its timeout aborted it.
	demo("transactional done: committed=10 aborted=5",
		"--mode", "commit-abort", "--topic", "hang-"+s, "--partitions", "3", "--count", "5", "--transactional-id", "pre-"+s)
	demo("transactional hanging",
		"--mode", "hang", "--topic", "hang-"+s, "--count", "7", "--transaction-timeout-ms", "5000", "--transactional-id", "hang-"+s)
	demo("transactional done: visible=10",
		"--mode", "check-aborted", "--topic", "hang-"+s, "--absent-prefix", "hung-", "--expect", "10")
}

// TestTransactionsKgo: franz-go's transactional producer and a
// read_committed consumer: an aborted transaction's records are skipped,
// a committed one's read, offsets committed in a transaction appear on
// commit only, and a zombie producer is fenced. On both backends.
func TestTransactionsKgo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Run("embedded", func(t *testing.T) { checkKgoTransactions(t, startStandalone(t, txnBrokerConf).addr) })
	t.Run("pulsar", func(t *testing.T) {
		b, _, _ := startOnPulsar(t, txnBrokerConf)
		checkKgoTransactions(t, b.addr)
	})
	t.Run("pulsar-entryformat", func(t *testing.T) {
		extra := map[string]string{"entryFormat": "pulsar"}
		for k, v := range txnBrokerConf {
			extra[k] = v
		}
		b, _, _ := startOnPulsar(t, extra)
		checkKgoTransactions(t, b.addr)
	})
}

func checkKgoTransactions(t *testing.T, addr string) {
	ctx := testCtx(t, 2*time.Minute)
	adm := newAdmin(t, addr)
	const topic = "txn"
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	p := newClient(t, addr, kgo.TransactionalID("kgo-txn"), kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(time.Minute))
	txn := func(commit bool, prefix string, n int) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}).FirstErr(); err != nil {
				t.Fatalf("produce in transaction: %v", err)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction (commit %v): %v", commit, err)
		}
	}
	txn(true, "a", 10)
	txn(false, "b", 10)
	txn(true, "c", 10)

	// The stable end is the log end once every transaction ended.
	committed := readCommitted(t, addr, topic, 20)
	for _, v := range committed {
		if strings.HasPrefix(v, "b-") {
			t.Fatalf("read_committed consumer read aborted record %q", v)
		}
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	// 30 records and a marker per transaction and partition written.
	if total < 30+3 {
		t.Fatalf("end offsets add up to %d, want the 30 records and the markers", total)
	}

	// An open transaction holds read_committed readers back.
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte("open")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := readCommitted(t, addr, topic, 20); len(got) != 20 {
		t.Fatalf("read_committed while a transaction is open: %d records", len(got))
	}
	// The admin APIs see it: DescribeTransactions, ListTransactions and
	// DescribeProducers (its open transaction's first offset).
	dt, err := adm.DescribeTransactions(ctx, "kgo-txn")
	if err != nil {
		t.Fatal(err)
	}
	if d, err := dt.On("kgo-txn", nil); err != nil || d.State != "Ongoing" || len(d.Topics[topic]) != 1 || d.StartTimestamp <= 0 {
		t.Fatalf("DescribeTransactions: %+v, %v", d, err)
	}
	lt, err := adm.ListTransactions(ctx, nil, []string{"Ongoing"})
	if err != nil || !slices.Contains(lt.TransactionalIDs(), "kgo-txn") {
		t.Fatalf("ListTransactions(Ongoing): %v, %v", lt.TransactionalIDs(), err)
	}
	dp, err := adm.DescribeProducers(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	open := 0
	dp.EachProducer(func(p kadm.DescribedProducer) {
		if p.CurrentTxnStartOffset >= 0 {
			open++
		}
	})
	if open != 1 {
		t.Fatalf("DescribeProducers: %d producers with an open transaction, want 1", open)
	}
	// A second producer with the same id fences the first and aborts its
	// transaction.
	p2 := newClient(t, addr, kgo.TransactionalID("kgo-txn"), kgo.DefaultProduceTopic(topic), kgo.RecordDeliveryTimeout(time.Minute))
	if err := p2.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p2.ProduceSync(ctx, &kgo.Record{Value: []byte("second")}).FirstErr(); err != nil {
		t.Fatalf("second producer: %v", err)
	}
	if err := p2.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	err = p.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.InvalidProducerEpoch) && !errors.Is(err, kerr.ProducerFenced) {
		t.Fatalf("fenced producer's commit: %v", err)
	}
	got := strings.Join(readCommitted(t, addr, topic, 21), ",")
	if !strings.Contains(got, "second") || strings.Contains(got, "open") {
		t.Fatalf("after fencing, read_committed reads %v", got)
	}
}

// readCommitted reads topic from the start with a read_committed consumer
// until it reached the stable end of every partition, and checks it got
// want values.
// needSeveralLeaders waits until topic is in Metadata (it reaches every
// broker a moment after the create) and fails unless its partitions have
// two leaders or more.
func needSeveralLeaders(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) {
	t.Helper()
	leaders := map[int32]bool{}
	for len(leaders) == 0 {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range md.Topics[topic].Partitions {
			leaders[p.Leader] = true
		}
		select {
		case <-ctx.Done():
			t.Fatal("the new topic never appeared in Metadata")
		case <-time.After(20 * time.Millisecond):
		}
	}
	if len(leaders) < 2 {
		t.Fatalf("the partitions are led by %v: the test needs several leaders", leaders)
	}
}

// commitAbortCommit runs three transactions of 12 records each through the
// transactional producer p (values "true-i" committed, "false-i" aborted).
func commitAbortCommit(t *testing.T, ctx context.Context, p *kgo.Client) {
	t.Helper()
	for _, commit := range []bool{true, false, true} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 12; i++ {
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%v-%d", commit, i))}).FirstErr(); err != nil {
				t.Fatalf("transactional produce: %v", err)
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("end transaction (commit %v): %v", commit, err)
		}
	}
}

func readCommitted(t *testing.T, addr, topic string, want int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer c.Close()
	var out []string
	for len(out) < want {
		fs := c.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read_committed consumer got %d of %d records: %v (%v)", len(out), want, err, out)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	if len(out) != want {
		t.Fatalf("read_committed consumer got %d records, want %d: %v", len(out), want, out)
	}
	return out
}

// TestTransactionCrash: kill -9 of KOP while a transaction is open, then a
// restart: the open transaction's records never become visible to
// read_committed readers (it is aborted once its timeout passes), while a
// transaction committed before the crash stays committed, on the embedded
// log and on Pulsar.
func TestTransactionCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	t.Run("embedded", func(t *testing.T) { checkTransactionCrash(t, startStandalone(t, txnBrokerConf)) })
	t.Run("pulsar", func(t *testing.T) {
		b, _, _ := startOnPulsar(t, txnBrokerConf)
		checkTransactionCrash(t, b)
	})
}

func checkTransactionCrash(t *testing.T, b *broker) {
	ctx := testCtx(t, 3*time.Minute)
	const topic = "txn-crash"
	if _, err := newAdmin(t, b.addr).CreateTopic(ctx, 2, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	p := newClient(t, b.addr, kgo.TransactionalID("crash"), kgo.DefaultProduceTopic(topic),
		kgo.TransactionTimeout(5*time.Second), kgo.RecordDeliveryTimeout(time.Minute))
	produce := func(prefix string, n int) {
		t.Helper()
		for i := 0; i < n; i++ {
			if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce("committed", 10)
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce("open", 10)
	p.Close()

	b.kill9()
	b.start()

	// read_committed readers reach the end only once the open transaction
	// is aborted (its 5 s timeout, then the cleanup interval).
	got := readCommitted(t, b.addr, topic, 10)
	for _, v := range got {
		if !strings.HasPrefix(v, "committed-") {
			t.Fatalf("read_committed read %q after the crash", v)
		}
	}
	adm := newAdmin(t, b.addr)
	for {
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		// The stable end (read_committed ListOffsets) reaches the log
		// end once the transaction is aborted.
		stable, err := adm.ListCommittedOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		done := true
		ends.Each(func(o kadm.ListedOffset) {
			if s, _ := stable.Lookup(o.Topic, o.Partition); s.Offset != o.Offset {
				done = false
			}
		})
		if done {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the open transaction was never aborted: end offsets %v, stable %v", ends, stable)
		case <-time.After(200 * time.Millisecond):
		}
	}
	got = readCommitted(t, b.addr, topic, 10)
	for _, v := range got {
		if !strings.HasPrefix(v, "committed-") {
			t.Fatalf("read_committed read %q after the abort", v)
		}
	}
}

// TestTransactionsClusterOnPulsar: in a three-broker cluster the
// transaction coordinator (the Raft leader) writes the markers of
// partitions other brokers lead through WriteTxnMarkers; committed and
// aborted transactions over every partition read right.
func TestTransactionsClusterOnPulsar(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	bs := startClusterOnPulsar(t, 3, txnBrokerConf)
	ctx := testCtx(t, 3*time.Minute)
	seeds := kgo.SeedBrokers(bs[0].addr, bs[1].addr, bs[2].addr)
	const topic = "txn-cluster"
	if res, err := newAdmin(t, bs[0].addr).CreateTopic(ctx, 6, 1, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("CreateTopic: %v %v", err, res.Err)
	}
	needSeveralLeaders(t, ctx, newAdmin(t, bs[0].addr), topic)
	p := newClient(t, bs[0].addr, seeds, kgo.TransactionalID("cluster-txn"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RecordDeliveryTimeout(time.Minute))
	commitAbortCommit(t, ctx, p)
	for _, v := range readCommitted(t, bs[1].addr, topic, 24) {
		if !strings.HasPrefix(v, "true-") {
			t.Fatalf("read_committed read %q", v)
		}
	}
}
