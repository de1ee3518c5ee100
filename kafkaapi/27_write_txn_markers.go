package kafkaapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// WriteTxnMarkers (key 27): the transaction coordinator asks a partition
// leader to append commit or abort markers. KOP's coordinator (the Raft
// leader) calls WriteMarkers below, which writes the markers of the
// partitions this broker leads itself and sends this request to the
// leaders of the others.
func (s *Server) writeTxnMarkersAPI() api {
	return api{key: 27, min: 0, max: 1, handle: handlerOf(s.handleWriteTxnMarkers)}
}

func (s *Server) handleWriteTxnMarkers(ctx context.Context, r *request, req *kmsg.WriteTxnMarkersRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	// Brokers send markers to each other: CLUSTER_ACTION on the cluster.
	authorized := r.may(opClusterAction, resCluster, clusterName)
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, mt := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = mt.Topic
			t, found := s.deps.Meta.Topic(mt.Topic)
			for _, idx := range mt.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = idx
				if !authorized {
					rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				} else if !found {
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				} else {
					rp.ErrorCode = s.writeMarker(ctx, t, idx, m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch)
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

// writeMarker writes one marker to a partition this broker leads.
func (s *Server) writeMarker(ctx context.Context, t raftmeta.Topic, idx int32, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) int16 {
	p, code := s.partitionFor(ctx, t, idx)
	if code != 0 {
		return code
	}
	if err := p.WriteMarker(ctx, producerID, epoch, commit, coordinatorEpoch); err != nil {
		s.log.Warn("writing a transaction marker", "topic", t.Name, "partition", idx, "producerId", producerID, "err", err)
		return errorCode(err)
	}
	return 0
}

// WriteMarkers implements the transaction coordinator's Markers: each
// partition's marker is written by its leader, this broker's directly and
// the others' through WriteTxnMarkers, all at once. The first failure is
// returned (the coordinator retries the whole set; a repeated marker is
// harmless). A partition that refuses a marker as older than its
// producer's epoch has moved past this transaction: that marker is not
// needed, as Kafka's coordinator drops it.
func (s *Server) WriteMarkers(ctx context.Context, producerID int64, epoch int16, commit bool, parts []raftmeta.OffsetKey) error {
	byLeader := map[int32][]raftmeta.OffsetKey{}
	for _, k := range parts {
		t, ok := s.deps.Meta.Topic(k.Topic)
		if !ok || k.Partition < 0 || int(k.Partition) >= len(t.Partitions) {
			continue // deleted since: nothing to mark
		}
		leader := t.Partitions[k.Partition].Leader
		byLeader[leader] = append(byLeader[leader], k)
	}
	errs := make(chan error, len(byLeader))
	for leader, keys := range byLeader {
		go func() {
			if leader == s.deps.NodeID {
				errs <- s.writeLocalMarkers(ctx, producerID, epoch, commit, keys)
			} else {
				errs <- s.peers.writeMarkers(ctx, s.deps.Meta, leader, producerID, epoch, commit, keys)
			}
		}()
	}
	var first error
	for range byLeader {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (s *Server) writeLocalMarkers(ctx context.Context, producerID int64, epoch int16, commit bool, keys []raftmeta.OffsetKey) error {
	var errs []error
	for _, k := range keys {
		t, ok := s.deps.Meta.Topic(k.Topic)
		if !ok {
			continue
		}
		if code := s.writeMarker(ctx, t, k.Partition, producerID, epoch, commit, 0); code != 0 && code != kerr.InvalidProducerEpoch.Code {
			errs = append(errs, fmt.Errorf("marker for %s-%d: %w", k.Topic, k.Partition, kerr.ErrorForCode(code)))
		}
	}
	return errors.Join(errs...)
}

// peers holds Kafka clients to the other brokers, for WriteTxnMarkers.
type peers struct {
	tls     *tls.Config // nil: plaintext
	mu      sync.Mutex
	clients map[int32]*kgo.Client
}

func (p *peers) client(meta Metadata, id int32) (*kgo.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cl := p.clients[id]; cl != nil {
		return cl, nil
	}
	var seeds []string
	for _, b := range meta.Brokers() {
		if b.ID == id {
			seeds = append(seeds, fmt.Sprintf("%s:%d", b.Host, b.Port))
		}
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("broker %d is not registered", id)
	}
	opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("kop-txn-coordinator")}
	if p.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(p.tls.Clone()))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	if p.clients == nil {
		p.clients = map[int32]*kgo.Client{}
	}
	p.clients[id] = cl
	return cl, nil
}

func (p *peers) writeMarkers(ctx context.Context, meta Metadata, leader int32, producerID int64, epoch int16, commit bool, keys []raftmeta.OffsetKey) error {
	cl, err := p.client(meta, leader)
	if err != nil {
		return fmt.Errorf("markers for broker %d: %w", leader, err)
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = producerID, epoch, commit
	byTopic := map[string]int{}
	for _, k := range keys {
		i, ok := byTopic[k.Topic]
		if !ok {
			i = len(m.Topics)
			byTopic[k.Topic] = i
			mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			mt.Topic = k.Topic
			m.Topics = append(m.Topics, mt)
		}
		m.Topics[i].Partitions = append(m.Topics[i].Partitions, k.Partition)
	}
	req.Markers = append(req.Markers, m)
	resp, err := req.RequestWith(ctx, cl.Broker(int(leader)))
	if err != nil {
		return fmt.Errorf("WriteTxnMarkers to broker %d: %w", leader, err)
	}
	var errs []error
	for _, rm := range resp.Markers {
		for _, rt := range rm.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil && rp.ErrorCode != kerr.InvalidProducerEpoch.Code {
					errs = append(errs, fmt.Errorf("marker for %s-%d on broker %d: %w", rt.Topic, rp.Partition, leader, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, cl := range p.clients {
		cl.Close()
	}
	p.clients = nil
}
