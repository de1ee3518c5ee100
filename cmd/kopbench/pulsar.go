package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	plog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/apache/pulsar-client-go/pulsaradmin"
	"github.com/apache/pulsar-client-go/pulsaradmin/pkg/utils"

	"github.com/kop-project/kop/internal/pulsartest"
)

// pulsarClient connects pulsar-client-go to p, logging warnings only.
func pulsarClient(p *pulsartest.Pulsar) (pulsar.Client, error) {
	return pulsar.NewClient(pulsar.ClientOptions{
		URL:    p.ServiceURL,
		Logger: plog.NewLoggerWithSlog(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))),
	})
}

// pulsarProducer batches as franzProducer does: up to 1 MiB (or 1,000
// records) per batch, up to 20,000 records pending, uncompressed; a batch
// waits up to delay for more records (pulsar-client-go's default is 10 ms).
func pulsarProducer(client pulsar.Client, topic string, delay time.Duration) (pulsar.Producer, error) {
	return client.CreateProducer(pulsar.ProducerOptions{
		Topic:                   topic,
		BatchingMaxSize:         1 << 20,
		BatchingMaxMessages:     1000,
		BatchingMaxPublishDelay: delay,
		MaxPendingMessages:      20_000,
		CompressionType:         pulsar.NoCompression,
	})
}

// createPulsarTopic creates topic, partitioned when parts > 1. KOP turns
// topic auto-creation off in the namespace it shares with these rows.
func createPulsarTopic(ctx context.Context, webURL, topic string, parts int) error {
	admin, err := pulsaradmin.NewClient(&pulsaradmin.Config{WebServiceURL: webURL})
	if err != nil {
		return err
	}
	tn, err := utils.GetTopicName(topic)
	if err != nil {
		return err
	}
	if parts == 1 {
		parts = 0 // non-partitioned
	}
	if err := admin.Topics().CreateWithContext(ctx, *tn, parts); err != nil {
		return fmt.Errorf("creating %s: %w", topic, err)
	}
	return nil
}

// pulsarProduce sends n records of size random bytes as fast as the
// producer goes and waits for every acknowledgement.
func pulsarProduce(ctx context.Context, p *pulsartest.Pulsar, topic string, n, size int) (produceStats, error) {
	client, err := pulsarClient(p)
	if err != nil {
		return produceStats{}, err
	}
	defer client.Close()
	prod, err := pulsarProducer(client, topic, 10*time.Millisecond)
	if err != nil {
		return produceStats{}, err
	}
	defer prod.Close()
	value := randomValue(size)
	return flood(n, func(done func(error)) {
		prod.SendAsync(ctx, &pulsar.ProducerMessage{Payload: value}, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) { done(err) })
	})
}

// pulsarConsume reads n records of topic from the earliest with an
// exclusive subscription of its own (no acknowledgements: the rows only
// read), timed from creating the client as franzConsume is.
func pulsarConsume(ctx context.Context, p *pulsartest.Pulsar, topic string, n int) (time.Duration, error) {
	start := time.Now()
	client, err := pulsarClient(p)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	cons, err := client.Subscribe(pulsar.ConsumerOptions{
		Topic: topic, SubscriptionName: "kopbench", Type: pulsar.Exclusive,
		SubscriptionInitialPosition: pulsar.SubscriptionPositionEarliest, ReceiverQueueSize: 20_000,
	})
	if err != nil {
		return 0, err
	}
	defer cons.Close()
	for got := 0; got < n; got++ {
		if _, err := cons.Receive(ctx); err != nil {
			return 0, fmt.Errorf("receive %d of %d: %w", got, n, err)
		}
	}
	return time.Since(start), nil
}

// pulsarFixedRate is franzFixedRate with pulsar-client-go, its batches
// waiting at most 1 ms for more records (franz-go does not wait).
func pulsarFixedRate(ctx context.Context, p *pulsartest.Pulsar, topic string, size int, rate float64, d time.Duration) ([]time.Duration, error) {
	client, err := pulsarClient(p)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	prod, err := pulsarProducer(client, topic, time.Millisecond)
	if err != nil {
		return nil, err
	}
	defer prod.Close()
	value := randomValue(size)
	return paced(ctx, rate, d, func(done func(error)) {
		prod.SendAsync(ctx, &pulsar.ProducerMessage{Payload: value}, func(_ pulsar.MessageID, _ *pulsar.ProducerMessage, err error) { done(err) })
	})
}
