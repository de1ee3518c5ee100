package kafkaapi

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/partition"
	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

// Fetch (key 1): read record batches, long-polling up to MaxWaitMillis until
// MinBytes are there; woken by appends, not by timers. v4+ (v2 batches).
// Incremental fetch sessions (KIP-227) are declined by answering session id
// 0, which every client handles by sending full fetch requests.
func (s *Server) fetchAPI() api {
	return api{key: 1, min: 4, max: 17, blocking: true, handle: handlerOf(s.handleFetch)}
}

// fetchPart is one requested partition, resolved once per request.
type fetchPart struct {
	req  kmsg.FetchRequestTopicPartition
	resp *kmsg.FetchResponseTopicPartition
	p    *partition.Partition
	// region, when set, holds the partition's records instead of
	// resp.RecordBatches: a part of a segment file the connection sends
	// with sendfile (fetchframe.go).
	region *storage.Region
}

func (s *Server) handleFetch(ctx context.Context, r *request, req *kmsg.FetchRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	r.regions = map[*kmsg.FetchResponseTopicPartition]*storage.Region{}
	if req.SessionID != 0 {
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp, nil
	}
	var parts []*fetchPart
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(rt.Partitions))
		var (
			t     raftmeta.Topic
			found bool
		)
		internal := req.Version >= 13 && rt.TopicID == s.offsetsTopicID() || req.Version < 13 && isInternalTopic(rt.Topic)
		if req.Version >= 13 {
			t, found = s.deps.Meta.TopicByID(rt.TopicID)
		} else {
			t, found = s.deps.Meta.Topic(rt.Topic)
		}
		name := rt.Topic
		if found {
			name = t.Name
		}
		authorized := r.may(opRead, resTopic, name)
		for i, rp := range rt.Partitions {
			sp := &st.Partitions[i]
			*sp = kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			// Never null: librdkafka rejects a null record set.
			sp.RecordBatches = []byte{}
			switch {
			case (found || req.Version < 13) && !authorized:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				continue
			case internal:
				hw, code := emptyInternalPartition(rp.Partition)
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset, sp.ErrorCode = hw, hw, hw, code
				if code == 0 && rp.FetchOffset != 0 {
					sp.ErrorCode = kerr.OffsetOutOfRange.Code
				}
				continue
			case !found && req.Version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
				continue
			case !found:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			p, code := s.partitionFor(ctx, t, rp.Partition)
			if code == 0 {
				code = checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch())
			}
			if code != 0 {
				sp.ErrorCode = code
				continue
			}
			parts = append(parts, &fetchPart{req: rp, resp: sp, p: p})
		}
		resp.Topics = append(resp.Topics, st)
	}

	defer s.countFetched(parts)
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = 1 << 30
	}
	for {
		// Take the change notifications before reading, so an append that
		// lands between the read and the wait still wakes us.
		changed := make([]<-chan struct{}, len(parts))
		for i, fp := range parts {
			changed[i] = fp.p.Log().Changed()
		}
		total, failed := s.readParts(ctx, r, parts, maxBytes, req.IsolationLevel == readCommitted)
		if failed || total >= int(req.MinBytes) || !time.Now().Before(deadline) || len(parts) == 0 {
			return resp, nil
		}
		s.metrics.fetchWaits.Inc()
		s.metrics.longPolls.Inc()
		woke := waitAny(ctx, changed, deadline)
		s.metrics.fetchWaits.Dec()
		if !woke {
			// Deadline or connection gone: answer with what we have (the
			// reads above found nothing new worth the wait).
			s.readParts(ctx, r, parts, maxBytes, req.IsolationLevel == readCommitted)
			return resp, nil
		}
	}
}

// readParts fills every partition's response from its log, in request order
// within the response byte budget (KIP-74: the first non-empty partition
// always returns at least one batch). It reports the bytes read and whether
// any partition failed, which ends the long poll at once.
//
// A read_committed fetch reads below the last stable offset only, and
// lists the aborted transactions of what it returns, which the client
// skips.
func (s *Server) readParts(ctx context.Context, r *request, parts []*fetchPart, maxBytes int, committed bool) (int, bool) {
	total, failed := 0, false
	// readFailed answers a partition whose read failed.
	readFailed := func(fp *fetchPart, err error) {
		fp.resp.ErrorCode = errorCode(err)
		if !errors.Is(err, storage.ErrOffsetOutOfRange) {
			s.log.Warn("fetch read failed", "topic", fp.p.Topic(), "partition", fp.req.Partition, "offset", fp.req.FetchOffset, "err", err)
		}
		failed = true
	}
	for _, fp := range parts {
		sp := fp.resp
		sp.RecordBatches = []byte{}
		fp.region = nil
		delete(r.regions, sp)
		sp.ErrorCode = 0
		sp.AbortedTransactions = nil
		l := fp.p.Log()
		// The stable offset first: it never passes the end read after.
		lso := fp.p.LastStableOffset()
		sp.HighWatermark = l.LogEndOffset()
		sp.LastStableOffset = lso
		sp.LogStartOffset = l.LogStartOffset()
		if committed && fp.req.FetchOffset >= lso && fp.req.FetchOffset <= sp.HighWatermark {
			continue // nothing stable to return yet
		}
		budget := min(int(fp.req.PartitionMaxBytes), maxBytes-total)
		if budget <= 0 && total > 0 {
			continue
		}
		if budget <= 0 {
			budget = 1
		}
		if rr, ok := l.(storage.RegionReader); ok && !committed && r.conn != nil && r.conn.sendfile {
			reg, ok, err := rr.ReadRegion(ctx, fp.req.FetchOffset, budget)
			if err != nil {
				readFailed(fp, err)
				continue
			}
			if ok {
				sp.HighWatermark, sp.LogStartOffset = reg.HighWatermark, reg.LogStartOffset
				if reg.Len > 0 {
					fp.region = &reg
					r.regions[sp] = &reg
					r.release = append(r.release, reg.Release)
				}
				total += reg.Len
				continue
			}
		}
		res, err := l.Read(ctx, fp.req.FetchOffset, budget)
		if err != nil {
			readFailed(fp, err)
			continue
		}
		sp.HighWatermark = res.HighWatermark
		sp.LogStartOffset = res.LogStartOffset
		if committed {
			res.Records = res.Records[:stablePrefix(res.Records, lso)]
			if len(res.Records) > 0 {
				sp.AbortedTransactions = abortedOf(fp.p, fp.req.FetchOffset, lso)
			}
		}
		if len(res.Records) > 0 {
			sp.RecordBatches = res.Records
		}
		if res.Release != nil {
			r.release = append(r.release, res.Release)
		}
		total += len(res.Records)
	}
	return total, failed
}

// readCommitted is Fetch's and ListOffsets' isolation level that hides
// records of open and aborted transactions.
const readCommitted = 1

// stablePrefix is the length of the whole batches of records that end
// below the last stable offset.
func stablePrefix(records []byte, lso int64) int {
	n := 0
	recordbatch.Iterate(records, func(h recordbatch.Header, raw []byte) bool {
		if h.NextOffset() > lso {
			return false
		}
		n += len(raw)
		return true
	})
	return n
}

// abortedOf lists the aborted transactions with data in [from, to).
func abortedOf(p *partition.Partition, from, to int64) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	var out []kmsg.FetchResponseTopicPartitionAbortedTransaction
	for _, a := range p.AbortedTxns(from, to) {
		at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
		out = append(out, at)
	}
	if out == nil {
		out = []kmsg.FetchResponseTopicPartitionAbortedTransaction{} // read_committed: a list, not null
	}
	return out
}

// waitAny waits until one of the channels closes (true), or the deadline
// passes or ctx ends (false).
func waitAny(ctx context.Context, chans []<-chan struct{}, deadline time.Time) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	if len(chans) == 1 {
		select {
		case <-chans[0]:
			return true
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	woke := make(chan struct{}, 1)
	stop := make(chan struct{})
	defer close(stop)
	for _, ch := range chans {
		go func() {
			select {
			case <-ch:
				select {
				case woke <- struct{}{}:
				default:
				}
			case <-stop:
			}
		}()
	}
	select {
	case <-woke:
		return true
	case <-timer.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// countFetched adds what a fetch returns to its topics' counters.
func (s *Server) countFetched(parts []*fetchPart) {
	for _, fp := range parts {
		if reg := fp.region; reg != nil {
			tm := s.metrics.topics.of(fp.p.Topic())
			tm.bytesOut.Add(float64(reg.Len))
			tm.messagesOut.Add(float64(reg.Records))
		} else if n := len(fp.resp.RecordBatches); n > 0 {
			tm := s.metrics.topics.of(fp.p.Topic())
			tm.bytesOut.Add(float64(n))
			tm.messagesOut.Add(float64(recordbatch.CountRecords(fp.resp.RecordBatches)))
		}
	}
}
