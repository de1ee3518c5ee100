package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteRecords (key 21): move partitions' log start offsets forward.
func (s *Server) deleteRecordsAPI() api {
	return api{key: 21, min: 0, max: 2, handle: handlerOf(s.handleDeleteRecords)}
}

func (s *Server) handleDeleteRecords(ctx context.Context, r *request, req *kmsg.DeleteRecordsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t, found := s.deps.Meta.Topic(rt.Topic)
		authorized := r.may(opDelete, resTopic, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			if !authorized {
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if !found {
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			p, code := s.partitionFor(ctx, t, rp.Partition)
			if code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			before := rp.Offset
			if before == -1 { // -1: up to the high watermark
				before = p.Log().LogEndOffset()
			}
			if before < 0 {
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			} else if low, err := p.Log().DeleteRecords(ctx, before); err != nil {
				sp.ErrorCode = errorCode(err)
			} else {
				sp.LowWatermark = low
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}
