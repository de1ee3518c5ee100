package kafkaapi

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerId (key 22): producer ids for idempotent producers, handed out
// from blocks reserved in Raft so no id is ever given twice, across restarts
// and brokers; a transactional id's producer id and epoch come from the
// transaction coordinator (package coordinator/txn).
func (s *Server) initProducerIDAPI() api {
	return api{key: 22, min: 0, max: 5, handle: handlerOf(s.handleInitProducerID)}
}

// producerIDBlock is how many ids one Raft command reserves.
const producerIDBlock = 1000

// producerIDs hands out ids from the current reserved block.
type producerIDs struct {
	mu        sync.Mutex
	next, end int64
}

// NextProducerID hands out a producer id never given before; the
// transaction coordinator takes its ids here too.
func (s *Server) NextProducerID(ctx context.Context) (int64, error) {
	s.pids.mu.Lock()
	defer s.pids.mu.Unlock()
	if s.pids.next >= s.pids.end {
		first, err := s.deps.Meta.AllocateProducerIDs(ctx, producerIDBlock)
		if err != nil {
			return -1, err
		}
		s.pids.next, s.pids.end = first, first+producerIDBlock
	}
	id := s.pids.next
	s.pids.next++
	return id, nil
}

func (s *Server) handleInitProducerID(ctx context.Context, r *request, req *kmsg.InitProducerIDRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		if !r.may(opWrite, resTxnID, *req.TransactionalID) {
			resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			return resp, nil
		}
		return s.deps.Txns.InitProducerID(ctx, req), nil
	}
	// An idempotent producer needs IDEMPOTENT_WRITE on the cluster or
	// WRITE on some topic (Kafka 2.8+).
	if !r.may(opIdempotentWrite, resCluster, clusterName) && !s.authz.anyAllowed(r.conn.principal(), r.conn.remoteHost(), opWrite, resTopic) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	// As Kafka does for idempotent-only producers, every call gets a fresh
	// id at epoch 0, also when the producer names its previous id (KIP-360).
	id, err := s.NextProducerID(ctx)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		if resp.ErrorCode == kerr.NotLeaderForPartition.Code || resp.ErrorCode == kerr.UnknownServerError.Code {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp, nil
}
