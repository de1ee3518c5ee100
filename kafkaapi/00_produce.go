package kafkaapi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/partition"
	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

// Produce (key 0): append record batches to partition logs. v3+ only: the
// versions that carry v2 record batches (Kafka 4.0 dropped v0–v2 too).
//
// Pipelined: the handler validates each partition's batch and starts its
// append, in request order; the response is completed (request.finish) when
// the appends are stored, while the connection starts the next request's
// appends.
func (s *Server) produceAPI() api {
	return api{key: 0, min: 3, max: 13, pipelined: true, handle: handlerOf(s.handleProduce)}
}

func (s *Server) handleProduce(ctx context.Context, r *request, req *kmsg.ProduceRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	var reqErr int16
	if req.Acks != 0 && req.Acks != 1 && req.Acks != -1 {
		reqErr = kerr.InvalidRequiredAcks.Code
	} else if req.TransactionID != nil && !r.may(opWrite, resTxnID, *req.TransactionID) {
		reqErr = kerr.TransactionalIDAuthorizationFailed.Code
	}
	timeout := s.cfg.RequestTimeout
	if req.TimeoutMillis > 0 {
		timeout = time.Duration(req.TimeoutMillis) * time.Millisecond
	}
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inFlight []appending
	)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		var (
			t     raftmeta.Topic
			found bool
		)
		if req.Version >= 13 {
			t, found = s.deps.Meta.TopicByID(rt.TopicID)
		} else {
			t, found = s.deps.Meta.Topic(rt.Topic)
		}
		name := rt.Topic
		if found {
			name = t.Name
		}
		authorized := r.may(opWrite, resTopic, name)
		for i, rp := range rt.Partitions {
			sp := &st.Partitions[i]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			switch {
			case reqErr != 0:
				sp.ErrorCode = reqErr
			case (found || req.Version < 13) && !authorized:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case isInternalTopic(rt.Topic) || req.Version >= 13 && rt.TopicID == s.offsetsTopicID():
				sp.ErrorCode = kerr.InvalidTopicException.Code
			case !found && req.Version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case !found:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				wg.Add(1)
				go func() {
					defer wg.Done()
					start := time.Now()
					if pend := s.producePartition(ctx, t, rp, sp, req.TransactionID != nil); pend != nil {
						a := appending{pend: pend, sp: sp, topic: t.Name, start: start,
							bytes: len(rp.Records), records: recordbatch.CountRecords(rp.Records)}
						mu.Lock()
						inFlight = append(inFlight, a)
						mu.Unlock()
					}
				}()
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	wg.Wait()
	if req.Acks == 0 {
		return nil, nil
	}
	if len(inFlight) > 0 {
		conn := r.conn.ctx
		r.finish = func() {
			ctx, cancel := context.WithDeadline(conn, deadline)
			defer cancel()
			for _, a := range inFlight {
				s.finishProduce(ctx, a)
			}
		}
	}
	return resp, nil
}

// appending is one partition's append in flight and the response part it
// fills.
type appending struct {
	pend  *partition.Pending
	sp    *kmsg.ProduceResponseTopicPartition
	topic string
	// For the metrics: when the append started, the batch's size and
	// records.
	start          time.Time
	bytes, records int
}

// finishProduce waits for one partition's append and fills its response.
func (s *Server) finishProduce(ctx context.Context, a appending) {
	res, err := a.pend.Wait(ctx)
	if err != nil {
		if code := errorCode(err); code == kerr.UnknownServerError.Code {
			s.log.Error("produce append failed", "topic", a.topic, "partition", a.sp.Partition, "err", err)
		}
		a.sp.ErrorCode = errorCode(err)
		a.sp.ErrorMessage = errMessage(err)
		return
	}
	s.metrics.appendTime.Observe(time.Since(a.start).Seconds())
	tm := s.metrics.topics.of(a.topic)
	tm.bytesIn.Add(float64(a.bytes))
	tm.messagesIn.Add(float64(a.records))
	a.sp.BaseOffset = res.BaseOffset
	a.sp.LogAppendTime = res.LogAppendTime
	a.sp.LogStartOffset = res.LogStartOffset
}

// producePartition validates one partition's records and starts their
// append; nil when it failed (sp says why).
// transactional says whether the request names a transactional id, which
// transactional batches need (as Kafka, which authorizes them by it).
func (s *Server) producePartition(ctx context.Context, t raftmeta.Topic, rp kmsg.ProduceRequestTopicPartition, sp *kmsg.ProduceResponseTopicPartition, transactional bool) *partition.Pending {
	p, code := s.partitionFor(ctx, t, rp.Partition)
	if code != 0 {
		sp.ErrorCode = code
		if code == kerr.NotLeaderForPartition.Code && !s.holdsLease() {
			sp.ErrorMessage = kmsg.StringPtr("this broker has lost contact with the metadata quorum; its partitions are moving")
		}
		return nil
	}
	fail := func(err error) {
		sp.ErrorCode = errorCode(err)
		sp.ErrorMessage = errMessage(err)
	}
	batches, err := recordbatch.Split(rp.Records)
	if err != nil {
		fail(err)
		return nil
	}
	if len(batches) != 1 {
		// As Kafka: v3+ produce requests carry exactly one batch per
		// partition, which is what makes idempotent sequencing sound.
		fail(kerrWith(kerr.InvalidRecord, fmt.Errorf("produce request carries %d record batches for one partition, want exactly 1", len(batches))))
		return nil
	}
	b := batches[0]
	// A compressed batch's records are walked as they inflate, within
	// maxDecompressedBatchBytes, before anything else is done with it.
	if err := recordbatch.CheckRecords(b.Raw, s.cfg.MaxDecompressedBatchBytes); err != nil {
		fail(err)
		return nil
	}
	cfg := p.Config()
	if codec, ok := recordbatch.CodecNamed(cfg.Compression); ok && codec != b.Header.Compression() {
		// compression.type names a codec: the batch is stored in it (and
		// its stored size is what max.message.bytes bounds, as in Kafka).
		raw, err := recordbatch.Recompress(b.Raw, codec, s.cfg.MaxDecompressedBatchBytes)
		if err != nil {
			fail(err)
			return nil
		}
		if b.Header, err = recordbatch.ParseHeader(raw); err != nil {
			fail(err)
			return nil
		}
		b.Raw = raw
	}
	if cfg.Compact && !b.Header.IsControl() {
		if err := recordbatch.CheckKeys(b.Raw, s.cfg.MaxDecompressedBatchBytes); err != nil {
			fail(fmt.Errorf("compacted topic %s partition %d: %w", t.Name, rp.Partition, err))
			return nil
		}
	}
	if len(b.Raw) > int(cfg.MaxMessageBytes) {
		fail(kerrWith(kerr.MessageTooLarge, fmt.Errorf("record batch of %d bytes exceeds max.message.bytes %d", len(b.Raw), cfg.MaxMessageBytes)))
		return nil
	}
	if b.Header.IsTransactional() && !transactional {
		fail(kerrWith(kerr.TransactionalIDAuthorizationFailed, fmt.Errorf("transactional batch in a produce request without a transactional id")))
		return nil
	}
	if b.Header.IsTransactional() && !b.Header.HasProducer() {
		fail(kerrWith(kerr.InvalidRecord, fmt.Errorf("transactional batch without a producer id")))
		return nil
	}
	return p.AppendAsync(ctx, storage.Batch{Header: b.Header, Raw: b.Raw})
}
