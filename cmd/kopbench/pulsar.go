package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/apache/pulsar-client-go/pulsaradmin"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"

	"github.com/kop-project/kop/internal/pulsartest"
)

// runPulsar starts a real Pulsar standalone (deploy/pulsar) and KOP on it,
// then measures, on the same Pulsar and one partition, franz-go through
// KOP against pulsar-client-go's own producer and reader: same record
// size, batches of up to 1 MiB, up to 20,000 records in flight.
func runPulsar(bin string, n, size int) error {
	fmt.Printf("\nStarting a Pulsar standalone for the KOP-on-Pulsar comparison...\n")
	p, err := pulsartest.Start()
	if err != nil {
		return err
	}
	defer p.Stop()
	dir, err := os.MkdirTemp("", "kopbench-pulsar")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	addr, httpAddr, stop, pid, err := startKop(bin, dir, "--brokerServiceUrl="+p.ServiceURL, "--webServiceUrl="+p.WebURL)
	if err != nil {
		return err
	}
	defer stop()

	// The JVM under Pulsar speeds up for a while as it compiles: both
	// paths warm it up first, then run alternately, and the median round
	// of each is reported.
	if _, err := benchOne(addr, "kop-warmup", 1, n/2, size, 0); err != nil {
		return fmt.Errorf("KOP on Pulsar (warm-up): %w", err)
	}
	if _, err := benchNative(p, "persistent://public/default/native-warmup", n/2, size); err != nil {
		return fmt.Errorf("native Pulsar (warm-up): %w", err)
	}
	var kops, natives []result
	cpuDone := startCPUProfile(httpAddr, "pulsar", 60*time.Second)
	for round := range pulsarRounds {
		r, err := benchOne(addr, fmt.Sprintf("kop-on-pulsar-%d", round), 1, n, size, 0)
		if err != nil {
			return fmt.Errorf("KOP on Pulsar: %w", err)
		}
		kops = append(kops, r)
		r, err = benchNative(p, fmt.Sprintf("persistent://public/default/native-bench-%d", round), n, size)
		if err != nil {
			return fmt.Errorf("native Pulsar: %w", err)
		}
		natives = append(natives, r)
	}
	cpuDone()
	saveProfile(httpAddr, "allocs", "allocs-pulsar.pprof")
	kop, native := median(kops), median(natives)
	kop.name, native.name = "franz-go → KOP → Pulsar", "pulsar-client-go → Pulsar"
	fmt.Printf("\nEach round (produce MB/s / consume MB/s):\n")
	for i := range kops {
		fmt.Printf("  round %d: KOP %.1f / %.1f, native %.1f / %.1f\n", i+1, kops[i].prodMBs, kops[i].consMBs, natives[i].prodMBs, natives[i].consMBs)
	}
	fmt.Printf("\nKOP on Pulsar vs pulsar-client-go on the same Pulsar standalone: 1 partition, %d records of %d random bytes, batches up to 1 MiB, median of %d rounds\n\n", n, size, pulsarRounds)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tproduce MB/s\tp50 latency\tp99 latency\tconsume MB/s\t")
	for _, r := range []result{kop, native} {
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%.1f\t\n", r.name, r.prodMBs, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.consMBs)
	}
	fmt.Fprintf(tw, "KOP / native\t%.2f\t\t\t%.2f\t\n", kop.prodMBs/native.prodMBs, kop.consMBs/native.consMBs)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Printf("\nKOP's peak resident memory over the Pulsar rounds (VmHWM): %d MiB\n", peakRSS(pid))
	return nil
}

// pulsarRounds is how many times each path is measured.
const pulsarRounds = 5

// median returns the run with the median produce throughput, with the
// median consume throughput of all runs.
func median(rs []result) result {
	byProd := slices.Clone(rs)
	slices.SortFunc(byProd, func(a, b result) int { return cmp.Compare(a.prodMBs, b.prodMBs) })
	byCons := slices.Clone(rs)
	slices.SortFunc(byCons, func(a, b result) int { return cmp.Compare(a.consMBs, b.consMBs) })
	m := byProd[len(rs)/2]
	m.consMBs, m.consRecs = byCons[len(rs)/2].consMBs, byCons[len(rs)/2].consRecs
	return m
}

// benchNative produces n records with pulsar-client-go (batching like
// franz-go's: up to 1 MiB or 1000 records per batch) and reads them back
// with a reader. It creates the topic first: KOP turns topic
// auto-creation off in the namespace it shares with it.
func benchNative(p *pulsartest.Pulsar, topic string, n, size int) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := createTopic(ctx, p.WebURL, topic); err != nil {
		return result{}, err
	}
	client, err := pulsar.NewClient(pulsar.ClientOptions{
		URL:    p.ServiceURL,
		Logger: plog.NewLoggerWithSlog(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	})
	if err != nil {
		return result{}, err
	}
	defer client.Close()
	prod, err := client.CreateProducer(pulsar.ProducerOptions{
		Topic:                   topic,
		BatchingMaxSize:         1 << 20,
		BatchingMaxMessages:     1000,
		BatchingMaxPublishDelay: 10 * time.Millisecond,
		MaxPendingMessages:      20_000,
		CompressionType:         pulsar.NoCompression,
	})
	if err != nil {
		return result{}, err
	}
	value := make([]byte, size)
	rand.Read(value)
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var perr error
	start := time.Now()
	for i := range n {
		wg.Add(1)
		sent := time.Now()
		prod.SendAsync(ctx, &pulsar.ProducerMessage{Payload: value}, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) {
			lat[i] = time.Since(sent)
			if err != nil {
				mu.Lock()
				perr = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	prodDur := time.Since(start)
	prod.Close()
	if perr != nil {
		return result{}, fmt.Errorf("send: %w", perr)
	}
	slices.Sort(lat)

	// As with franz-go's consumer, which connects on its first poll, the
	// time counts from creating the reader (its subscription included).
	start = time.Now()
	reader, err := client.CreateReader(pulsar.ReaderOptions{
		Topic: topic, StartMessageID: pulsar.EarliestMessageID(), ReceiverQueueSize: 20_000,
	})
	if err != nil {
		return result{}, err
	}
	defer reader.Close()
	for got := 0; got < n; got++ {
		if _, err := reader.Next(ctx); err != nil {
			return result{}, fmt.Errorf("read %d of %d: %w", got, n, err)
		}
	}
	consDur := time.Since(start)
	mb := float64(n*size) / (1 << 20)
	return result{
		name: "pulsar-client-go", partitions: 1,
		prodMBs: mb / prodDur.Seconds(), prodRecs: float64(n) / prodDur.Seconds(),
		p50: lat[n/2], p99: lat[n*99/100],
		consMBs: mb / consDur.Seconds(), consRecs: float64(n) / consDur.Seconds(),
	}, nil
}

// createTopic creates a non-partitioned Pulsar topic.
func createTopic(ctx context.Context, webURL, topic string) error {
	admin, err := pulsaradmin.NewClient(&pulsaradmin.Config{WebServiceURL: webURL})
	if err != nil {
		return err
	}
	tn, err := utils.GetTopicName(topic)
	if err != nil {
		return err
	}
	if err := admin.Topics().CreateWithContext(ctx, *tn, 0); err != nil {
		return fmt.Errorf("creating %s: %w", topic, err)
	}
	return nil
}
