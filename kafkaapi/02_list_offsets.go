package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/storage"
)

// Special timestamps of ListOffsets.
const (
	latestTimestamp        = -1
	earliestTimestamp      = -2
	maxTimestamp           = -3 // v7+: the record with the largest timestamp
	earliestLocalTimestamp = -4 // v8+: tiered storage; all of KOP's log is "local"
	earliestPendingUpload  = -5 // v9+: tiered storage; nothing is pending
)

// ListOffsets (key 2): earliest, latest and by-timestamp offsets; v0 answers
// in its old-style offsets array (librdkafka still asks it).
func (s *Server) listOffsetsAPI() api {
	return api{key: 2, min: 0, max: 10, handle: handlerOf(s.handleListOffsets)}
}

func (s *Server) handleListOffsets(ctx context.Context, r *request, req *kmsg.ListOffsetsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t, found := s.deps.Meta.Topic(rt.Topic)
		authorized := r.may(opDescribe, resTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, -1
			switch {
			case !authorized:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case isInternalTopic(rt.Topic):
				var hw int64
				hw, sp.ErrorCode = emptyInternalPartition(rp.Partition)
				if sp.ErrorCode == 0 && rp.Timestamp != latestTimestamp && rp.Timestamp != earliestTimestamp && rp.Timestamp != earliestLocalTimestamp {
					hw = -1 // no record has any timestamp
				}
				sp.Offset = hw
				if req.Version == 0 && hw >= 0 {
					sp.OldStyleOffsets = []int64{hw}
				}
			case !found:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				s.listOffset(ctx, req, t, rp, &sp)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (s *Server) listOffset(ctx context.Context, req *kmsg.ListOffsetsRequest, t raftmeta.Topic, rp kmsg.ListOffsetsRequestTopicPartition, sp *kmsg.ListOffsetsResponseTopicPartition) {
	p, code := s.partitionFor(ctx, t, rp.Partition)
	if code == 0 {
		code = checkLeaderEpoch(rp.CurrentLeaderEpoch, p.LeaderEpoch())
	}
	if code != 0 {
		sp.ErrorCode = code
		return
	}
	l := p.Log()
	sp.LeaderEpoch = p.LeaderEpoch()
	switch rp.Timestamp {
	case latestTimestamp:
		sp.Offset = l.LogEndOffset()
		if req.IsolationLevel == readCommitted {
			sp.Offset = p.LastStableOffset()
		}
	case earliestTimestamp, earliestLocalTimestamp:
		sp.Offset = l.LogStartOffset()
	case earliestPendingUpload:
		sp.Offset = -1
	case maxTimestamp:
		// Finding the single record with the largest timestamp needs a
		// per-record scan KOP's logs do not index; say so precisely.
		sp.ErrorCode = kerr.UnsupportedVersion.Code
		return
	default:
		if rp.Timestamp < 0 {
			sp.ErrorCode = kerr.InvalidRequest.Code
			return
		}
		off, ts, err := storage.RecordForTimestamp(ctx, l, rp.Timestamp)
		if err != nil {
			sp.ErrorCode = errorCode(err)
			return
		}
		sp.Offset, sp.Timestamp = off, ts
		if off < 0 {
			sp.LeaderEpoch = -1
		}
	}
	if req.Version == 0 {
		// v0: a list of offsets, at most MaxNumOffsets, newest first.
		sp.OldStyleOffsets = nil
		if rp.MaxNumOffsets > 0 && sp.Offset >= 0 {
			sp.OldStyleOffsets = []int64{sp.Offset}
		}
	}
}
