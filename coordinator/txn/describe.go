package txn

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// DescribeTransactions describes transactional ids: state, producer id and
// epoch, timeout, and the partitions of the open transaction.
func (c *Coordinator) DescribeTransactions(req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	notReady := c.check()
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = id
		st.ProducerID, st.ProducerEpoch, st.StartTimestamp = -1, -1, -1
		t, found := c.store.Txn(id)
		switch {
		case notReady != nil:
			st.ErrorCode = notReady.Code
		case !found:
			st.ErrorCode = kerr.TransactionalIDNotFound.Code
		default:
			st.State, st.TimeoutMillis = t.State, t.TimeoutMs
			st.ProducerID, st.ProducerEpoch = t.ProducerID, t.Epoch
			if t.State != raftmeta.TxnEmpty && t.State != raftmeta.TxnCompleteCommit && t.State != raftmeta.TxnCompleteAbort {
				st.StartTimestamp = t.StartMs
				for _, k := range t.Partitions {
					if n := len(st.Topics); n > 0 && st.Topics[n-1].Topic == k.Topic {
						st.Topics[n-1].Partitions = append(st.Topics[n-1].Partitions, k.Partition)
						continue
					}
					tt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					tt.Topic, tt.Partitions = k.Topic, []int32{k.Partition}
					st.Topics = append(st.Topics, tt)
				}
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp
}

// states are the transaction states ListTransactions filters on.
var states = []string{raftmeta.TxnEmpty, raftmeta.TxnOngoing, raftmeta.TxnPrepareCommit, raftmeta.TxnPrepareAbort, raftmeta.TxnCompleteCommit, raftmeta.TxnCompleteAbort}

// ListTransactions lists the transactional ids, filtered by state,
// producer id and (v1+) how long the open transaction has run.
func (c *Coordinator) ListTransactions(req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	if e := c.check(); e != nil {
		resp.ErrorCode = e.Code
		return resp
	}
	var wantStates []string
	for _, s := range req.StateFilters {
		if slices.Contains(states, s) {
			wantStates = append(wantStates, s)
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
		}
	}
	if len(req.StateFilters) > 0 && len(wantStates) == 0 {
		return resp // only unknown states asked for: none match
	}
	now := c.cfg.Now().UnixMilli()
	for _, t := range c.store.Txns() {
		switch {
		case len(wantStates) > 0 && !slices.Contains(wantStates, t.State),
			len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, t.ProducerID),
			req.Version >= 1 && req.DurationFilterMillis >= 0 && (t.State != raftmeta.TxnOngoing || now-t.StartMs < req.DurationFilterMillis):
			continue
		}
		ls := kmsg.NewListTransactionsResponseTransactionState()
		ls.TransactionalID, ls.ProducerID, ls.TransactionState = t.ID, t.ProducerID, t.State
		resp.TransactionStates = append(resp.TransactionStates, ls)
	}
	return resp
}
