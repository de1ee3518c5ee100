package node

import (
	"context"
	"fmt"
	"slices"

	"github.com/kop-project/kop/partition"
	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/storage"
)

// markerWriter gives the transaction coordinator the Kafka server's
// marker writes (the server is built after the coordinator).
type markerWriter struct{ n *Node }

func (m markerWriter) WriteMarkers(ctx context.Context, producerID int64, epoch int16, commit bool, parts []raftmeta.OffsetKey) error {
	if m.n.kafka == nil {
		return fmt.Errorf("node: the Kafka server is not running yet")
	}
	return m.n.kafka.WriteMarkers(ctx, producerID, epoch, commit, parts)
}

// txnIndex keeps the partitions' aborted transactions in Raft: the
// transaction state is there already, both storage backends share it, and
// it moves with the partition to its next leader.
type txnIndex struct{ n *Node }

func (a txnIndex) AbortedTxns(tp storage.TopicPartition) []partition.AbortedTxn {
	var out []partition.AbortedTxn
	for _, t := range a.n.meta.AbortedTxns(raftmeta.OffsetKey{Topic: tp.Topic, Partition: tp.Partition}) {
		out = append(out, partition.AbortedTxn{ProducerID: t.ProducerID, FirstOffset: t.FirstOffset, LastOffset: t.LastOffset})
	}
	return out
}

func (a txnIndex) OpenTxnStarts(tp storage.TopicPartition) []int64 {
	k := raftmeta.OffsetKey{Topic: tp.Topic, Partition: tp.Partition}
	var out []int64
	for _, t := range a.n.meta.Txns() {
		switch t.State {
		case raftmeta.TxnOngoing, raftmeta.TxnPrepareCommit, raftmeta.TxnPrepareAbort:
			if slices.Contains(t.Partitions, k) {
				out = append(out, t.StartMs)
			}
		}
	}
	return out
}

func (a txnIndex) AddAbortedTxns(ctx context.Context, tp storage.TopicPartition, add []partition.AbortedTxn, pruneBefore int64) error {
	txns := make([]raftmeta.AbortedTxn, len(add))
	for i, t := range add {
		txns[i] = raftmeta.AbortedTxn{ProducerID: t.ProducerID, FirstOffset: t.FirstOffset, LastOffset: t.LastOffset}
	}
	return a.n.meta.AddAbortedTxns(ctx, raftmeta.OffsetKey{Topic: tp.Topic, Partition: tp.Partition}, txns, pruneBefore)
}
