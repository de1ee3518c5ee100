package kafkaapi

import (
	"crypto/md5"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// offsetsTopic is Kafka's internal topic of committed offsets. KOP keeps
// group state and offsets in its Raft group instead, but clients and tools
// look for the topic: Metadata lists it as internal (is_internal), so a
// regex subscription or a topic listing that leaves internal topics out
// behaves as on Kafka. Its partitions are always empty: Fetch answers no
// records at offset 0, ListOffsets 0, and Produce, deletion and creation
// are refused as Kafka refuses them to clients.
const offsetsTopic = "__consumer_offsets"

// offsetsTopicPartitions is Kafka's default offsets.topic.num.partitions;
// old tools compute a group's partition from it.
const offsetsTopicPartitions = 50

// isInternalTopic reports whether name is a topic KOP serves itself.
func isInternalTopic(name string) bool { return name == offsetsTopic }

// errInternalTopic refuses a change to an internal topic.
func errInternalTopic(name string) error {
	return kerrWith(kerr.InvalidTopicException, fmt.Errorf("topic %q is internal: KOP keeps committed offsets in its Raft group", name))
}

// offsetsTopicID is a stable id of the internal topic within the cluster.
func (s *Server) offsetsTopicID() raftmeta.TopicID {
	return md5.Sum([]byte(s.deps.Meta.ClusterID() + "/" + offsetsTopic))
}

// offsetsTopicMetadata describes the internal topic, every partition led by
// the group coordinator (the Raft leader).
func (s *Server) offsetsTopicMetadata(r *request, req *kmsg.MetadataRequest) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := offsetsTopic
	mt.Topic = &name
	mt.TopicID = s.offsetsTopicID()
	mt.IsInternal = true
	mt.AuthorizedOperations = noOps
	if req.IncludeTopicAuthorizedOperations {
		mt.AuthorizedOperations = r.allowedOps(topicOps, resTopic, offsetsTopic)
	}
	leader, ok := s.deps.Meta.LeaderID()
	for i := int32(0); i < offsetsTopicPartitions; i++ {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = i
		mp.Leader, mp.LeaderEpoch = -1, 0
		if ok {
			mp.Leader = leader
			mp.Replicas, mp.ISR = []int32{leader}, []int32{leader}
		} else {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// emptyInternalPartition answers a read of an internal topic's partition:
// no records, every offset 0; an unknown partition says so.
func emptyInternalPartition(idx int32) (hw int64, code int16) {
	if idx < 0 || idx >= offsetsTopicPartitions {
		return -1, kerr.UnknownTopicOrPartition.Code
	}
	return 0, 0
}
