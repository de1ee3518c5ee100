package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetDelete (key 47): removes a group's committed offsets of partitions
// its members do not subscribe to.
func (s *Server) offsetDeleteAPI() api {
	return api{key: 47, min: 0, max: 0, handle: handlerOf(s.handleOffsetDelete)}
}

func (s *Server) handleOffsetDelete(ctx context.Context, r *request, req *kmsg.OffsetDeleteRequest) (kmsg.Response, error) {
	if !r.may(opDelete, resGroup, req.Group) {
		resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil
	}
	allowed, denied := splitBy(req.Topics, func(t kmsg.OffsetDeleteRequestTopic) bool { return r.may(opRead, resTopic, t.Topic) })
	if len(denied) == 0 {
		return s.deps.Groups.OffsetDelete(ctx, req), nil
	}
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if len(allowed) > 0 {
		part := *req
		part.Topics = allowed
		resp = s.deps.Groups.OffsetDelete(ctx, &part)
	}
	for _, t := range denied {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.TopicAuthorizationFailed.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}
