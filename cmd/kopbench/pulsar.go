package main

import (
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
	addr, stop, err := startKop(bin, dir, "--brokerServiceUrl="+p.ServiceURL, "--webServiceUrl="+p.WebURL)
	if err != nil {
		return err
	}
	defer stop()

	kop, err := benchOne(addr, "kop-on-pulsar", 1, n, size)
	if err != nil {
		return fmt.Errorf("KOP on Pulsar: %w", err)
	}
	native, err := benchNative(p.ServiceURL, "persistent://public/default/native-bench", n, size)
	if err != nil {
		return fmt.Errorf("native Pulsar: %w", err)
	}
	fmt.Printf("\nKOP on Pulsar vs pulsar-client-go on the same Pulsar standalone: 1 partition, %d records of %d random bytes, batches up to 1 MiB\n\n", n, size)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tproduce MB/s\tp50 latency\tp99 latency\tconsume MB/s\t")
	for _, r := range []result{kop, native} {
		fmt.Fprintf(tw, "%s\t%.1f\t%s\t%s\t%.1f\t\n", r.name, r.prodMBs, r.p50.Round(10*time.Microsecond), r.p99.Round(10*time.Microsecond), r.consMBs)
	}
	fmt.Fprintf(tw, "KOP / native\t%.2f\t\t\t%.2f\t\n", kop.prodMBs/native.prodMBs, kop.consMBs/native.consMBs)
	return tw.Flush()
}

// benchNative produces n records with pulsar-client-go (batching like
// franz-go's: up to 1 MiB or 1000 records per batch) and reads them back
// with a reader.
func benchNative(url, topic string, n, size int) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	client, err := pulsar.NewClient(pulsar.ClientOptions{
		URL:    url,
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

	reader, err := client.CreateReader(pulsar.ReaderOptions{
		Topic: topic, StartMessageID: pulsar.EarliestMessageID(), ReceiverQueueSize: 20_000,
	})
	if err != nil {
		return result{}, err
	}
	defer reader.Close()
	start = time.Now()
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
