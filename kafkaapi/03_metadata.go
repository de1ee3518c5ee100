package kafkaapi

import (
	"context"
	"net"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// Metadata (key 3): brokers, controller, and topics with their partition
// leaders; creates missing topics when the client and broker allow it.
func (s *Server) metadataAPI() api {
	return api{key: 3, min: 0, max: 13, handle: handlerOf(s.handleMetadata)}
}

// authorized operation bits reported when asked: those of the operations
// that apply to the resource that the principal may perform
// (request.allowedOps).
const (
	topicOps   = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<10 | 1<<11
	clusterOps = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12
	noOps      = -2147483648
)

func (s *Server) handleMetadata(ctx context.Context, r *request, req *kmsg.MetadataRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = s.brokersFor(r.conn.lis.Name)
	cid := s.deps.Meta.ClusterID()
	resp.ClusterID = &cid
	resp.ControllerID = -1
	if id, ok := s.deps.Meta.LeaderID(); ok {
		resp.ControllerID = id
	}
	live := s.liveSet()
	resp.AuthorizedOperations = noOps
	if req.IncludeClusterAuthorizedOperations {
		resp.AuthorizedOperations = r.allowedOps(clusterOps, resCluster, clusterName)
	}

	all := req.Topics == nil || req.Version == 0 && len(req.Topics) == 0
	if all {
		// Only the topics the principal may describe are listed.
		for _, t := range s.deps.Meta.Topics() {
			if r.may(opDescribe, resTopic, t.Name) {
				resp.Topics = append(resp.Topics, s.topicMetadata(r, t, req, live))
			}
		}
		if r.may(opDescribe, resTopic, offsetsTopic) {
			resp.Topics = append(resp.Topics, s.offsetsTopicMetadata(r, req))
		}
		return resp, nil
	}
	autoCreate := s.deps.Config.AllowAutoTopicCreation && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var (
			t  raftmeta.Topic
			ok bool
		)
		switch {
		case rt.Topic != nil && isInternalTopic(*rt.Topic),
			rt.Topic == nil && rt.TopicID == s.offsetsTopicID():
			if !r.may(opDescribe, resTopic, offsetsTopic) {
				mt := kmsg.NewMetadataResponseTopic()
				mt.Topic, mt.TopicID, mt.AuthorizedOperations = rt.Topic, rt.TopicID, noOps
				mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
				resp.Topics = append(resp.Topics, mt)
				continue
			}
			resp.Topics = append(resp.Topics, s.offsetsTopicMetadata(r, req))
			continue
		case rt.Topic != nil:
			t, ok = s.deps.Meta.Topic(*rt.Topic)
		default:
			t, ok = s.deps.Meta.TopicByID(rt.TopicID)
		}
		if (ok || rt.Topic != nil) && !r.may(opDescribe, resTopic, nameOr(t.Name, rt.Topic)) {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID, mt.AuthorizedOperations = rt.Topic, rt.TopicID, noOps
			mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		if ok {
			resp.Topics = append(resp.Topics, s.topicMetadata(r, t, req, live))
			continue
		}
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
		mt.AuthorizedOperations = noOps
		if rt.Topic == nil {
			mt.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		if err := raftmeta.ValidateTopicName(*rt.Topic); err != nil {
			mt.ErrorCode = kerr.InvalidTopicException.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		if autoCreate && !r.may(opCreate, resCluster, clusterName) && !r.may(opCreate, resTopic, *rt.Topic) {
			// As Kafka: a topic one may not create is not auto-created,
			// and the client learns why instead of retrying.
			mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		if !autoCreate {
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		created, err := s.createTopic(ctx, *rt.Topic, s.deps.Config.DefaultNumPartitions, nil)
		if code := errorCode(err); code != 0 && code != kerr.TopicAlreadyExists.Code {
			s.log.Warn("auto-creating topic", "topic", *rt.Topic, "err", err)
			mt.ErrorCode = kerr.LeaderNotAvailable.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		} else if code != 0 {
			created, _ = s.deps.Meta.Topic(*rt.Topic)
		}
		s.log.Info("auto-created topic", "topic", created.Name, "partitions", len(created.Partitions))
		resp.Topics = append(resp.Topics, s.topicMetadata(r, created, req, live))
	}
	return resp, nil
}

// topicMetadata describes a topic; live are the live brokers' ids.
func (s *Server) topicMetadata(r *request, t raftmeta.Topic, req *kmsg.MetadataRequest, live liveSet) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.AuthorizedOperations = noOps
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = r.allowedOps(topicOps, resTopic, t.Name)
	}
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(t.Partitions))
	// One replica per partition, its leader: one array holds them all,
	// each partition's replica and ISR lists a slice of it.
	leaders := make([]int32, len(t.Partitions))
	for i, p := range t.Partitions {
		leaders[i] = p.Leader
		one := leaders[i : i+1 : i+1]
		mp := &mt.Partitions[i]
		*mp = kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.Index
		mp.Leader = p.Leader
		mp.LeaderEpoch = p.LeaderEpoch
		mp.Replicas, mp.ISR = one, one
		if !live.has(p.Leader) {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.OfflineReplicas = one
		}
	}
	return mt
}

// liveSet are the ids of the live brokers, looked up per partition.
type liveSet []int32

func (l liveSet) has(id int32) bool { return slices.Contains(l, id) }

func (s *Server) liveSet() liveSet {
	brokers := s.liveBrokers()
	l := make(liveSet, len(brokers))
	for i, b := range brokers {
		l[i] = b.ID
	}
	return l
}

func (s *Server) brokerAlive(id int32) bool { return s.liveSet().has(id) }

// brokersFor lists the brokers with their address on the named listener.
func (s *Server) brokersFor(listener string) []kmsg.MetadataResponseBroker {
	var out []kmsg.MetadataResponseBroker
	for _, b := range s.liveBrokers() {
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID = b.ID
		mb.Host, mb.Port = b.Host, b.Port
		if addr, ok := b.Listeners[listener]; ok {
			if host, port, err := net.SplitHostPort(addr); err == nil {
				if n, err := strconv.Atoi(port); err == nil {
					mb.Host, mb.Port = host, int32(n)
				}
			}
		}
		if b.Rack != "" {
			rack := b.Rack
			mb.Rack = &rack
		}
		out = append(out, mb)
	}
	return out
}
