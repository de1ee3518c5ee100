package node

import (
	"context"
	"time"

	"github.com/kop-project/kop/placement"
	"github.com/kop-project/kop/raftmeta"
)

// Partition leadership in a cluster, as the Raft leader steers it:
//
//   - failover: the partitions of a broker that the leader's Raft heartbeats
//     have not reached for BrokerSessionTimeout go to the brokers it does
//     reach, each with a new leader epoch, and the broker is fenced
//     (Metadata stops listing it) until it registers again or is reached
//     again. A new Raft leader counts a dead predecessor as silent since it
//     last heard from it, not since the election.
//   - lease: a broker that has not been in touch with the Raft group for
//     two thirds of BrokerSessionTimeout refuses produce and closes its
//     partitions by itself (watchLease), so a frozen or cut-off broker has
//     stopped writing before its partitions move; the new leader's open
//     forces its Pulsar producer off (pulsarbridge), so it can never write
//     again.
//   - rebalance: with AutoLeaderRebalance, a partition goes back to its
//     preferred leader (placement.Spread over every registered broker)
//     once that broker has been reachable for BrokerSessionTimeout.
//   - handover: a broker shutting down gracefully gives its partitions to
//     the others first (handOver), so clients move without waiting for a
//     failover.

// handOverTimeout bounds what a graceful shutdown spends handing
// partitions and Raft leadership over.
const handOverTimeout = 5 * time.Second

// sessionTimeout is BrokerSessionTimeout with its default.
func (n *Node) sessionTimeout() time.Duration {
	if n.cfg.BrokerSessionTimeout <= 0 {
		return 3 * time.Second
	}
	return n.cfg.BrokerSessionTimeout
}

// leaseTimeout is how long a broker goes on writing without contact with
// the Raft group: two thirds of the session timeout, so it has stopped
// before the Raft leader moves its partitions.
func (n *Node) leaseTimeout() time.Duration { return n.sessionTimeout() * 2 / 3 }

func (n *Node) holdsLease() bool { return n.meta.HoldsLease(n.leaseTimeout()) }

// fencedHere says whether the metadata has this broker fenced.
func (n *Node) fencedHere() bool {
	for _, b := range n.meta.Brokers() {
		if b.ID == n.cfg.NodeID {
			return b.Fenced
		}
	}
	return false
}

// writeTimeout bounds one Raft write made by the leadership loops.
func (n *Node) writeTimeout() time.Duration {
	if n.cfg.RequestTimeout <= 0 {
		return 30 * time.Second
	}
	return n.cfg.RequestTimeout
}

// watchLease closes every open partition when the lease is lost: their
// exclusive Pulsar producers go, so the brokers that take them over need
// not force them off, and nothing more is written from here. With the
// lease back and this broker found fenced (it was cut off long enough for
// its partitions to move), it registers again, which clears the fence.
func (n *Node) watchLease(ctx context.Context) {
	tick := time.NewTicker(n.leaseTimeout() / 10)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if n.holdsLease() {
			if n.fencedHere() && !n.closing.Load() {
				n.log.Info("this broker was fenced while out of touch: registering again")
				rctx, cancel := context.WithTimeout(ctx, n.writeTimeout())
				if err := n.meta.RegisterBroker(rctx, n.reg); err != nil {
					n.log.Warn("registering again", "err", err)
				}
				cancel()
			}
			continue
		}
		open := n.parts.Open()
		if len(open) == 0 {
			continue
		}
		n.log.Warn("lost contact with the Raft group: closing this broker's partitions", "partitions", len(open), "lease", n.leaseTimeout())
		if err := n.parts.ReleaseAll(); err != nil {
			n.log.Warn("releasing partitions", "err", err)
		}
	}
}

// failover runs on every broker and acts on the Raft leader only.
func (n *Node) failover(ctx context.Context) {
	timeout := n.sessionTimeout()
	tick := time.NewTicker(min(timeout/8, 250*time.Millisecond))
	defer tick.Stop()
	reachableSince := map[int32]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !n.meta.IsLeader() {
			clear(reachableSince)
			continue
		}
		n.moveFromUnreachable(ctx, timeout)
		if n.cfg.AutoLeaderRebalance {
			n.rebalance(ctx, reachableSince, timeout)
		}
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
	var live []int32
	for _, b := range n.meta.Brokers() {
		if _, unreachable := down[b.ID]; !unreachable && !b.Fenced {
			live = append(live, b.ID)
		}
	}
	if len(lost) == 0 || len(live) == 0 {
		return 0
	}
	moved := n.moveLeaders(ctx, live, func(p raftmeta.Partition) bool { return lost[p.Leader] }, "off an unreachable broker")
	n.failovers.Add(float64(moved))
	// Fenced after its partitions moved: until then Metadata still
	// names it as their leader, and clients must be able to resolve it.
	for _, b := range n.meta.Brokers() {
		if lost[b.ID] && !b.Fenced {
			n.fence(ctx, b.ID)
		}
	}
	return moved
}

// fence marks a broker fenced: Metadata, DescribeCluster, new partitions
// and rebalancing leave it out until it registers again.
func (n *Node) fence(ctx context.Context, id int32) error {
	wctx, cancel := context.WithTimeout(ctx, n.writeTimeout())
	defer cancel()
	if err := n.meta.SetBrokerFenced(wctx, id, true); err != nil {
		n.log.Warn("fencing a broker", "broker", id, "err", err)
		return err
	}
	n.log.Info("broker fenced: clients are no longer sent to it", "broker", id)
	return nil
}

// moveLeaders gives each partition that move selects a new leader among
// to (placement.Spread' placement), with a new epoch; it reports
// how many moved.
func (n *Node) moveLeaders(ctx context.Context, to []int32, move func(raftmeta.Partition) bool, why string) int {
	moved := 0
	for _, t := range n.meta.Topics() {
		place := placement.Spread(t.Name, to)
		for _, p := range t.Partitions {
			if !move(p) {
				continue
			}
			if n.moveLeader(ctx, t.Name, p, place(p.Index), why) {
				moved++
			}
		}
	}
	return moved
}

func (n *Node) moveLeader(ctx context.Context, topic string, p raftmeta.Partition, to int32, why string) bool {
	wctx, cancel := context.WithTimeout(ctx, n.writeTimeout())
	epoch, err := n.meta.SetPartitionLeader(wctx, topic, p.Index, to)
	cancel()
	if err != nil {
		n.log.Warn("moving the leadership of a partition "+why, "topic", topic, "partition", p.Index, "from", p.Leader, "to", to, "err", err)
		return false
	}
	n.log.Info("moved the leadership of a partition "+why, "topic", topic, "partition", p.Index, "from", p.Leader, "to", to, "leaderEpoch", epoch)
	return true
}

// rebalance gives partitions back to their preferred leaders: the
// placement of placement.Spread over every registered broker, which
// is where a topic created with all brokers up puts them. A preferred
// leader gets its partitions back once it has been reachable (registered,
// unfenced, heartbeats answered) for settle, so a broker that flaps does
// not pull partitions to and fro. reachableSince is the loop's memory.
func (n *Node) rebalance(ctx context.Context, reachableSince map[int32]time.Time, settle time.Duration) int {
	down := n.meta.Unreachable()
	brokers := n.meta.Brokers()
	all := make([]int32, 0, len(brokers))
	ready := map[int32]bool{}
	now := time.Now()
	for _, b := range brokers {
		all = append(all, b.ID)
		if _, unreachable := down[b.ID]; unreachable || b.Fenced {
			delete(reachableSince, b.ID)
			continue
		}
		if _, ok := reachableSince[b.ID]; !ok {
			reachableSince[b.ID] = now
		}
		ready[b.ID] = now.Sub(reachableSince[b.ID]) >= settle
	}
	if len(all) < 2 {
		return 0
	}
	moved := 0
	for _, t := range n.meta.Topics() {
		preferred := placement.Spread(t.Name, all)
		for _, p := range t.Partitions {
			want := preferred(p.Index)
			if p.Leader == want || !ready[want] {
				continue
			}
			if n.moveLeader(ctx, t.Name, p, want, "back to its preferred leader") {
				moved++
			}
		}
	}
	return moved
}

// handOver, on a graceful shutdown of a cluster member, gives the
// partitions this broker leads to the other reachable brokers and closes
// them here, and hands Raft leadership over when it has it, so clients
// move at once instead of after a failover.
func (n *Node) handOver(ctx context.Context) {
	if n.meta == nil || len(n.cfg.RaftPeers) < 2 {
		return
	}
	// Bounded: without a quorum nothing can be handed over, and the
	// shutdown must go on.
	ctx, cancel := context.WithTimeout(ctx, handOverTimeout)
	defer cancel()
	// Fenced first, so neither rebalancing nor new topics give it
	// partitions again while it goes.
	if err := n.fence(ctx, n.cfg.NodeID); err != nil {
		return
	}
	down := n.meta.Unreachable()
	var others []int32
	for _, b := range n.meta.Brokers() {
		if _, unreachable := down[b.ID]; b.ID != n.cfg.NodeID && !unreachable && !b.Fenced {
			others = append(others, b.ID)
		}
	}
	if len(others) > 0 {
		moved := n.moveLeaders(ctx, others, func(p raftmeta.Partition) bool { return p.Leader == n.cfg.NodeID }, "away from a broker shutting down")
		if moved > 0 {
			n.log.Info("handed partitions over before shutting down", "partitions", moved)
		}
	}
	if n.parts != nil {
		if err := n.parts.ReleaseAll(); err != nil {
			n.log.Warn("releasing partitions", "err", err)
		}
	}
	if n.meta.IsLeader() {
		if err := n.meta.TransferLeadership(ctx); err != nil {
			n.log.Warn("handing Raft leadership over", "err", err)
		}
	}
}
