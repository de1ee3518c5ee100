package node

import (
	"context"
	"time"

	"github.com/kop-project/kop/kafkaapi"
)

// failover runs on every broker and acts on the Raft leader only: the
// partitions of a broker that the leader's Raft heartbeats have not
// reached for BrokerSessionTimeout are given to the brokers it does reach,
// each with a new leader epoch, and the broker is fenced (Metadata stops
// listing it) until it registers again or is reached again. Clients of the lost broker find the new
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
	if !n.meta.IsLeader() {
		return 0
	}
	down := n.meta.Unreachable()
	lost := map[int32]bool{}
	for id, since := range down {
		if time.Since(since) >= timeout {
			lost[id] = true
		}
	}
	writeTimeout := n.cfg.RequestTimeout
	if writeTimeout <= 0 {
		writeTimeout = 30 * time.Second
	}
	fence := func(id int32, fenced bool) {
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		defer cancel()
		if err := n.meta.SetBrokerFenced(wctx, id, fenced); err != nil {
			n.log.Warn("fencing a broker", "broker", id, "fenced", fenced, "err", err)
			return
		}
		n.log.Info("broker fenced: clients are no longer sent to it", "broker", id, "fenced", fenced)
	}
	var live []int32
	for _, b := range n.meta.Brokers() {
		_, unreachable := down[b.ID]
		switch {
		case unreachable:
		case b.Fenced:
			// Reached again without registering anew (a network
			// partition that healed): clients may use it again.
			fence(b.ID, false)
			live = append(live, b.ID)
		default:
			live = append(live, b.ID)
		}
	}
	if len(lost) == 0 || len(live) == 0 {
		return 0
	}
	moved := 0
	for _, t := range n.meta.Topics() {
		place := kafkaapi.SpreadLeaders(t.Name, live)
		for _, p := range t.Partitions {
			if !lost[p.Leader] {
				continue
			}
			to := place(p.Index)
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
	// Fenced after its partitions moved: until then Metadata still
	// names it as their leader, and clients must be able to resolve it.
	for _, b := range n.meta.Brokers() {
		if lost[b.ID] && !b.Fenced {
			fence(b.ID, true)
		}
	}
	return moved
}
