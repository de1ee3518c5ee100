package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type commitResult struct {
	committers  int
	commitsPerS float64
	p50, p99    time.Duration
}

// benchCommits has `committers` goroutines, each a consumer of its own
// group and connection, as separate consumers would be, commit the offsets
// of 8 partitions back to back for d (OffsetCommit with generation -1, as
// simple consumers do). Every commit is a Raft write; concurrent ones
// share entries.
func benchCommits(addr, topic string, committers int, d time.Duration) (commitResult, error) {
	res := commitResult{committers: committers}
	var clients []*kgo.Client
	for range committers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			return res, err
		}
		defer cl.Close()
		clients = append(clients, cl)
	}
	tds, err := kadm.NewClient(clients[0]).ListTopics(context.Background(), topic)
	if err != nil {
		return res, err
	}
	topicID := tds[topic].ID // OffsetCommit v10 names topics by id
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		firstErr  error
		wg        sync.WaitGroup
	)
	start := time.Now()
	for i := range committers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := clients[i%len(clients)]
			var mine []time.Duration
			for offset := int64(1); ctx.Err() == nil; offset++ {
				req := kmsg.NewPtrOffsetCommitRequest()
				req.Group, req.Generation = fmt.Sprintf("bench-commit-%d", i), -1
				rt := kmsg.NewOffsetCommitRequestTopic()
				rt.Topic, rt.TopicID = topic, topicID
				for p := range int32(8) {
					rp := kmsg.NewOffsetCommitRequestTopicPartition()
					rp.Partition, rp.Offset = p, offset
					rt.Partitions = append(rt.Partitions, rp)
				}
				req.Topics = append(req.Topics, rt)
				t0 := time.Now()
				resp, err := req.RequestWith(ctx, cl)
				if ctx.Err() != nil {
					break
				}
				if err == nil {
					err = kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return res, fmt.Errorf("offset commit: %w", firstErr)
	}
	elapsed := time.Since(start)
	slices.Sort(latencies)
	if len(latencies) == 0 {
		return res, fmt.Errorf("no commit finished in %v", d)
	}
	res.commitsPerS = float64(len(latencies)) / elapsed.Seconds()
	res.p50 = latencies[len(latencies)/2]
	res.p99 = latencies[len(latencies)*99/100]
	return res, nil
}
