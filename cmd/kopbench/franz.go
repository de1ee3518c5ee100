package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// createKafkaTopic creates topic with parts partitions on a Kafka-protocol
// broker.
func createKafkaTopic(ctx context.Context, addr, topic string, parts int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, int32(parts), 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", topic, err)
	}
	return nil
}

// franzProducer is the producer every franz-go row uses: acks=all,
// idempotent, uncompressed (random values: the bytes measured are the
// bytes moved and stored), batches up to 1 MiB, up to 20,000 records
// buffered.
func franzProducer(addr, topic string, extra ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MaxBufferedRecords(20_000)}, extra...)...)
}

// produceStats is what a produce run measured.
type produceStats struct {
	dur     time.Duration
	latency []time.Duration // sorted, one per record
}

// franzProduce sends n records of size random bytes as fast as the
// producer goes and waits for every acknowledgement.
func franzProduce(ctx context.Context, addr, topic string, n, size int) (produceStats, error) {
	cl, err := franzProducer(addr, topic)
	if err != nil {
		return produceStats{}, err
	}
	defer cl.Close()
	value := randomValue(size)
	return flood(n, func(done func(error)) {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) { done(err) })
	})
}

// flood calls send n times back to back (send blocks while the client's
// buffer is full) and waits for every acknowledgement; each latency
// counts from its send call.
func flood(n int, send func(done func(error))) (produceStats, error) {
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var errs firstError
	start := time.Now()
	for i := range n {
		wg.Add(1)
		sent := time.Now()
		send(func(err error) {
			lat[i] = time.Since(sent)
			errs.set(err)
			wg.Done()
		})
	}
	wg.Wait()
	dur := time.Since(start)
	if err := errs.get(); err != nil {
		return produceStats{}, err
	}
	slices.Sort(lat)
	return produceStats{dur: dur, latency: lat}, nil
}

// franzConsume reads n records of topic from the start, without a group,
// and returns how long it took from creating the client.
func franzConsume(ctx context.Context, addr, topic string, n int, extra ...kgo.Opt) (time.Duration, error) {
	start := time.Now()
	cons, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(32 << 20),
		kgo.FetchMaxPartitionBytes(8 << 20)}, extra...)...)
	if err != nil {
		return 0, err
	}
	defer cons.Close()
	for got := 0; got < n; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			return 0, fmt.Errorf("consume: %d of %d records: %w", got, n, ctx.Err())
		}
		got += fs.NumRecords()
	}
	return time.Since(start), nil
}

// franzFixedRate sends rate records a second for d and returns each
// record's latency, counted from when it was due to be sent.
func franzFixedRate(ctx context.Context, addr, topic string, size int, rate float64, d time.Duration) ([]time.Duration, error) {
	cl, err := franzProducer(addr, topic)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	value := randomValue(size)
	return paced(ctx, rate, d, func(done func(error)) {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) { done(err) })
	})
}

// paced calls send rate times a second for d; send's callback reports each
// acknowledgement. It returns the sorted latencies, each counted from the
// moment the record was due, so a sender that falls behind shows it.
func paced(ctx context.Context, rate float64, d time.Duration, send func(done func(error))) ([]time.Duration, error) {
	n := int(rate * d.Seconds())
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var errs firstError
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if wait := time.Until(due); wait > time.Millisecond {
			time.Sleep(wait)
		}
		wg.Add(1)
		send(func(err error) {
			lat[i] = time.Since(due)
			errs.set(err)
			wg.Done()
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("fixed-rate run: acknowledgements missing: %w", ctx.Err())
	}
	if err := errs.get(); err != nil {
		return nil, err
	}
	slices.Sort(lat)
	return lat, nil
}

// randomValue is size random bytes: incompressible, so every system moves
// and stores all of them.
func randomValue(size int) []byte {
	v := make([]byte, size)
	rand.Read(v)
	return v
}

// firstError keeps the first error reported from callbacks.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	if err == nil {
		return
	}
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// quantile returns the q quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(int(q*float64(len(sorted))), len(sorted)-1)]
}
