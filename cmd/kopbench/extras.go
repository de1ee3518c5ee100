package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// txnRecords is how many records one transaction of the transactional
// rows holds.
const txnRecords = 10_000

// kopExtras measures what only KOP's own rows show, on a KOP standalone
// of its own: a transactional producer (a transaction per 10,000 records,
// read back read_committed) on 1 and 8 partitions, and offset commits per
// second with 1 and 100 concurrent committers. It returns markdown.
func kopExtras(bin string) (string, error) {
	dir, err := os.MkdirTemp("", "kopbench-extras")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	addr, _, stop, _, err := startKop(bin, dir)
	if err != nil {
		return "", err
	}
	defer stop()
	var w strings.Builder
	const n, size = 200_000, 1024
	fmt.Fprintf(&w, "\n## KOP alone: transactions\n\nKOP standalone, franz-go, %d records of 1 KiB, a transaction per %d records, consumed read_committed.\n\n", n, txnRecords)
	fmt.Fprintf(&w, "| partitions | produce MiB/s | p50 | p99 | consume MiB/s |\n|---|---|---|---|---|\n")
	for _, parts := range []int{1, 8} {
		topic := fmt.Sprintf("bench-txn-%d", parts)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if err := createKafkaTopic(ctx, addr, topic, parts); err != nil {
			return "", err
		}
		ps, err := transactionalProduce(ctx, addr, topic, n, size)
		if err != nil {
			return "", err
		}
		d, err := franzConsume(ctx, addr, topic, n, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
		if err != nil {
			return "", err
		}
		mib := float64(n*size) / (1 << 20)
		fmt.Fprintf(&w, "| %d | %.1f | %s | %s | %.1f |\n", parts, mib/ps.dur.Seconds(),
			ms(float64(quantile(ps.latency, 0.5))), ms(float64(quantile(ps.latency, 0.99))), mib/d.Seconds())
	}
	if err := createKafkaTopic(context.Background(), addr, "bench-commits", 8); err != nil {
		return "", err
	}
	fmt.Fprintf(&w, "\n## KOP alone: offset commits\n\nEach an OffsetCommit of 8 partitions written through Raft before the answer; 10 s per row.\n\n")
	fmt.Fprintf(&w, "| concurrent committers | commits/s | p50 | p99 |\n|---|---|---|---|\n")
	for _, c := range []int{1, 100} {
		r, err := benchCommits(addr, "bench-commits", c, 10*time.Second)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&w, "| %d | %.0f | %s | %s |\n", c, r.commitsPerS, ms(float64(r.p50)), ms(float64(r.p99)))
	}
	return w.String(), nil
}

// transactionalProduce sends n records in transactions of txnRecords,
// committing each.
func transactionalProduce(ctx context.Context, addr, topic string, n, size int) (produceStats, error) {
	cl, err := franzProducer(addr, topic, kgo.TransactionalID("kopbench-"+topic))
	if err != nil {
		return produceStats{}, err
	}
	defer cl.Close()
	value := randomValue(size)
	lat := make([]time.Duration, n)
	var errs firstError
	start := time.Now()
	for i := 0; i < n; i += txnRecords {
		if err := cl.BeginTransaction(); err != nil {
			return produceStats{}, fmt.Errorf("begin transaction: %w", err)
		}
		for j := i; j < min(n, i+txnRecords); j++ {
			sent := time.Now()
			cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				lat[j] = time.Since(sent)
				errs.set(err)
			})
		}
		if err := cl.Flush(ctx); err != nil {
			return produceStats{}, err
		}
		if err := errs.get(); err != nil {
			return produceStats{}, fmt.Errorf("produce: %w", err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return produceStats{}, fmt.Errorf("commit: %w", err)
		}
	}
	dur := time.Since(start)
	slices.Sort(lat)
	return produceStats{dur: dur, latency: lat}, nil
}
