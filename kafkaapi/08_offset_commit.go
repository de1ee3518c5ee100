package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit (key 8): a group member (or a simple consumer, generation
// -1) stores its positions. The coordinator checks member and generation
// and writes the offsets through Raft before answering.
func (s *Server) offsetCommitAPI() api {
	return api{key: 8, min: 0, max: 10, handle: handlerOf(s.handleOffsetCommit)}
}

func (s *Server) handleOffsetCommit(ctx context.Context, r *request, req *kmsg.OffsetCommitRequest) (kmsg.Response, error) {
	// READ on the group, and on each topic (the others answer
	// TOPIC_AUTHORIZATION_FAILED and are not committed).
	groupOK := r.may(opRead, resGroup, req.Group)
	allowed, denied := splitBy(req.Topics, func(t kmsg.OffsetCommitRequestTopic) bool {
		return groupOK && r.may(opRead, resTopic, s.topicName(t.Topic, t.TopicID))
	})
	if len(denied) == 0 {
		return s.deps.Groups.OffsetCommit(ctx, req), nil
	}
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	if len(allowed) > 0 {
		part := *req
		part.Topics = allowed
		resp = s.deps.Groups.OffsetCommit(ctx, &part)
	}
	code := kerr.TopicAuthorizationFailed.Code
	if !groupOK {
		code = kerr.GroupAuthorizationFailed.Code
	}
	for _, t := range denied {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// topicName is a request's topic name, or the name of its topic id (v10+
// of the offset APIs), for authorization.
func (s *Server) topicName(name string, id [16]byte) string {
	if name != "" {
		return name
	}
	if t, ok := s.deps.Meta.TopicByID(id); ok {
		return t.Name
	}
	return ""
}
