package node

import (
	"context"
	"hash/fnv"
	"slices"
	"time"
)

// failover runs on every broker and acts on the Raft leader only: the
// partitions of a broker that the leader's Raft heartbeats have not
// reached for BrokerSessionTimeout are given to the brokers it does reach,
// each with a new leader epoch. Clients of the lost broker find the new
// leaders through Metadata; the new leader opens the partition's log where
// the store has it (on Pulsar, after the lost broker's exclusive producer
// is gone), and a stale writer is fenced by the epoch.
func (n *Node) failover(ctx context.Context) {
	timeout := n.cfg.BrokerSessionTimeout
	if timeout <= 0 {
		timeout = 9 * time.Second
	}
	tick := time.NewTicker(min(timeout/4, time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		n.moveFromUnreachable(ctx, timeout)
	}
}

// moveFromUnreachable moves the partitions of brokers unreachable for
// longer than timeout; it reports how many it moved.
func (n *Node) moveFromUnreachable(ctx context.Context, timeout time.Duration) int {
	down := n.meta.Unreachable()
	lost := map[int32]bool{}
	for id, since := range down {
		if time.Since(since) >= timeout {
			lost[id] = true
		}
	}
	if len(lost) == 0 {
		return 0
	}
	var live []int32
	for _, b := range n.meta.Brokers() {
		if _, unreachable := down[b.ID]; !unreachable {
			live = append(live, b.ID)
		}
	}
	if len(live) == 0 {
		return 0
	}
	slices.Sort(live)
	writeTimeout := n.cfg.RequestTimeout
	if writeTimeout <= 0 {
		writeTimeout = 30 * time.Second
	}
	moved := 0
	for _, t := range n.meta.Topics() {
		h := fnv.New32a()
		h.Write([]byte(t.Name))
		start := int(h.Sum32() % uint32(len(live)))
		for _, p := range t.Partitions {
			if !lost[p.Leader] {
				continue
			}
			to := live[(start+int(p.Index))%len(live)]
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			epoch, err := n.meta.SetPartitionLeader(wctx, t.Name, p.Index, to)
			cancel()
			if err != nil {
				n.log.Warn("moving the leadership of a partition off an unreachable broker", "topic", t.Name, "partition", p.Index, "from", p.Leader, "to", to, "err", err)
				continue
			}
			n.log.Info("moved the leadership of a partition off an unreachable broker", "topic", t.Name, "partition", p.Index, "from", p.Leader, "to", to, "leaderEpoch", epoch)
			moved++
		}
	}
	return moved
}
