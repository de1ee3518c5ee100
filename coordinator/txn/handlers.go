package txn

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// InitProducerID answers InitProducerId for a transactional id: the
// producer id of the id (a new one the first time) at the next epoch,
// which fences every older producer of the id. A transaction the id left
// open is aborted first, and one left in Prepare is finished.
func (c *Coordinator) InitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	id := *req.TransactionalID
	if id == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}
	if e := c.check(); e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	timeout := req.TransactionTimeoutMillis
	if timeout <= 0 || int64(timeout) > c.cfg.MaxTimeout.Milliseconds() {
		resp.ErrorCode = kerr.InvalidTransactionTimeout.Code
		return resp
	}
	var out raftmeta.Txn
	err := c.withTxn(ctx, id, func(ctx context.Context) error {
		t, found := c.store.Txn(id)
		if !found {
			pid, err := c.cfg.ProducerID(ctx)
			if err != nil {
				return err
			}
			now := c.cfg.Now().UnixMilli()
			out, err = c.store.PutTxn(ctx, raftmeta.Txn{ID: id, ProducerID: pid, Epoch: 0, TimeoutMs: timeout,
				State: raftmeta.TxnEmpty, UpdatedMs: now}, 0)
			return err
		}
		// KIP-360: a producer that names its id and epoch must be the
		// current one (or the one that the last bump replaced).
		if req.ProducerID >= 0 && (req.ProducerID != t.ProducerID || req.ProducerEpoch != t.Epoch) {
			return kerr.ProducerFenced
		}
		var err error
		switch t.State {
		case raftmeta.TxnOngoing:
			// The previous producer's transaction is aborted under a new
			// epoch (fencing it), which this producer then gets.
			c.log.Info("aborting the open transaction of a reinitialised transactional id", "transactionalId", id, "producerId", t.ProducerID, "epoch", t.Epoch)
			t, err = c.end(ctx, t, false, true)
			if err != nil {
				return err
			}
		case raftmeta.TxnPrepareCommit, raftmeta.TxnPrepareAbort:
			if t, err = c.complete(ctx, t); err != nil {
				return err
			}
			if t, err = c.bumpEpoch(ctx, t); err != nil {
				return err
			}
		default:
			if t, err = c.bumpEpoch(ctx, t); err != nil {
				return err
			}
		}
		t.State, t.TimeoutMs = raftmeta.TxnEmpty, timeout
		t.Partitions, t.Groups, t.StartMs = nil, nil, 0
		out, err = c.put(ctx, t)
		return err
	})
	if err != nil {
		resp.ErrorCode = codeOf(err)
		if resp.ErrorCode == kerr.ProducerFenced.Code && req.Version < 4 {
			resp.ErrorCode = kerr.InvalidProducerEpoch.Code
		}
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = out.ProducerID, out.Epoch
	return resp
}

// AddPartitionsToTxn adds partitions to the producer's transaction,
// starting one when none is open. Versions 0-3 (the producer's).
func (c *Coordinator) AddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	var (
		add     []raftmeta.OffsetKey
		unknown = map[raftmeta.OffsetKey]bool{}
	)
	for _, rt := range req.Topics {
		t, ok := c.store.Topic(rt.Topic)
		for _, p := range rt.Partitions {
			k := raftmeta.OffsetKey{Topic: rt.Topic, Partition: p}
			if !ok || p < 0 || int(p) >= len(t.Partitions) {
				unknown[k] = true
			}
			add = append(add, k)
		}
	}
	answer := func(code func(k raftmeta.OffsetKey) int16) *kmsg.AddPartitionsToTxnResponse {
		for _, rt := range req.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				sp.Partition = p
				sp.ErrorCode = code(raftmeta.OffsetKey{Topic: rt.Topic, Partition: p})
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	all := func(code int16) *kmsg.AddPartitionsToTxnResponse {
		return answer(func(raftmeta.OffsetKey) int16 { return code })
	}
	if e := c.check(); e != nil {
		return all(e.Code)
	}
	if len(unknown) > 0 {
		return answer(func(k raftmeta.OffsetKey) int16 {
			if unknown[k] {
				return kerr.UnknownTopicOrPartition.Code
			}
			return kerr.OperationNotAttempted.Code
		})
	}
	err := c.withTxn(ctx, req.TransactionalID, func(ctx context.Context) error {
		return c.addToTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, add, "")
	})
	return all(codeOf(err))
}

// AddOffsetsToTxn adds a consumer group to the producer's transaction: the
// offsets the producer commits for it (TxnOffsetCommit) take effect when
// the transaction commits.
func (c *Coordinator) AddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	if e := c.check(); e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	err := c.withTxn(ctx, req.TransactionalID, func(ctx context.Context) error {
		return c.addToTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, nil, req.Group)
	})
	resp.ErrorCode = codeOf(err)
	return resp
}

// addToTxn adds partitions or a group to the transaction, opening it when
// it is not open.
func (c *Coordinator) addToTxn(ctx context.Context, id string, producerID int64, epoch int16, parts []raftmeta.OffsetKey, group string) error {
	t, found := c.store.Txn(id)
	if e := producerCheck(t, found, producerID, epoch); e != nil {
		return e
	}
	opening := false
	switch t.State {
	case raftmeta.TxnPrepareCommit, raftmeta.TxnPrepareAbort:
		return kerr.ConcurrentTransactions
	case raftmeta.TxnOngoing:
	default:
		opening = true
		t.State, t.StartMs = raftmeta.TxnOngoing, c.cfg.Now().UnixMilli()
		t.Partitions, t.Groups = nil, nil
	}
	before := len(t.Partitions) + len(t.Groups)
	t.Partitions = sortedUnion(t.Partitions, parts, compareKeys)
	if group != "" {
		t.Groups = sortedUnion(t.Groups, []string{group}, strings.Compare)
	}
	if !opening && len(t.Partitions)+len(t.Groups) == before {
		return nil // nothing new
	}
	_, err := c.put(ctx, t)
	return err
}

func compareKeys(a, b raftmeta.OffsetKey) int {
	return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// EndTxn commits or aborts the producer's transaction. A retried EndTxn
// of a transaction already ended the same way succeeds.
func (c *Coordinator) EndTxn(ctx context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if e := c.check(); e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	err := c.withTxn(ctx, req.TransactionalID, func(ctx context.Context) error {
		t, found := c.store.Txn(req.TransactionalID)
		if e := producerCheck(t, found, req.ProducerID, req.ProducerEpoch); e != nil {
			return e
		}
		prepare, done := raftmeta.TxnPrepareAbort, raftmeta.TxnCompleteAbort
		if req.Commit {
			prepare, done = raftmeta.TxnPrepareCommit, raftmeta.TxnCompleteCommit
		}
		var err error
		switch t.State {
		case raftmeta.TxnOngoing:
			_, err = c.end(ctx, t, req.Commit, false)
		case prepare:
			_, err = c.complete(ctx, t)
		case done:
		default:
			err = kerr.InvalidTxnState
		}
		return err
	})
	resp.ErrorCode = codeOf(err)
	return resp
}

// TxnOffsetCommit stores offsets the producer commits for a group inside
// its transaction; they become the group's committed offsets when the
// transaction commits.
func (c *Coordinator) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	now := c.cfg.Now().UnixMilli()
	var commits []raftmeta.OffsetCommit
	unknown := map[raftmeta.OffsetKey]bool{}
	refused := map[raftmeta.OffsetKey]int16{} // per-partition refusals
	for _, rt := range req.Topics {
		t, ok := c.store.Topic(rt.Topic)
		for _, p := range rt.Partitions {
			k := raftmeta.OffsetKey{Topic: rt.Topic, Partition: p.Partition}
			if !ok || p.Partition < 0 || int(p.Partition) >= len(t.Partitions) {
				unknown[k] = true
				continue
			}
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			switch {
			case len(md) > c.cfg.MaxMetadataBytes:
				refused[k] = kerr.OffsetMetadataTooLarge.Code
				continue
			case p.Offset < -1:
				refused[k] = kerr.InvalidRequest.Code
				continue
			}
			le := p.LeaderEpoch
			if req.Version < 2 {
				le = -1
			}
			commits = append(commits, raftmeta.OffsetCommit{OffsetKey: k,
				CommittedOffset: raftmeta.CommittedOffset{Offset: p.Offset, LeaderEpoch: le, Metadata: md, CommitTimeMs: now}})
		}
	}
	code := int16(0)
	// Kafka checks the member only when the client names it (v3+ with
	// the consumer's group metadata).
	checkMember := c.cfg.GroupMember != nil && req.Version >= 3 && (req.Generation >= 0 || req.MemberID != "" || req.InstanceID != nil)
	if e := c.check(); e != nil {
		code = e.Code
	} else if req.Group == "" {
		code = kerr.InvalidGroupID.Code
	} else if e := func() *kerr.Error {
		if !checkMember {
			return nil
		}
		instance := ""
		if req.InstanceID != nil {
			instance = *req.InstanceID
		}
		return c.cfg.GroupMember(req.Group, req.Generation, req.MemberID, instance)
	}(); e != nil {
		code = e.Code
	} else {
		err := c.withTxn(ctx, req.TransactionalID, func(ctx context.Context) error {
			t, found := c.store.Txn(req.TransactionalID)
			if e := producerCheck(t, found, req.ProducerID, req.ProducerEpoch); e != nil {
				return e
			}
			if _, added := slices.BinarySearch(t.Groups, req.Group); t.State != raftmeta.TxnOngoing || !added {
				// AddOffsetsToTxn must come first.
				return kerr.InvalidTxnState
			}
			if len(commits) == 0 {
				return nil
			}
			return c.store.CommitTxnOffsets(ctx, req.Group, req.ProducerID, commits)
		})
		code = codeOf(err)
	}
	for _, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, p := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = p.Partition
			sp.ErrorCode = code
			k := raftmeta.OffsetKey{Topic: rt.Topic, Partition: p.Partition}
			if unknown[k] {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else if code, ok := refused[k]; ok {
				sp.ErrorCode = code
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
