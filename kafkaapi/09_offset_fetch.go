package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetFetch (key 9): a group's committed offsets, for named partitions
// or all of them (v2+), for one group or a batch of groups (v8+).
func (s *Server) offsetFetchAPI() api {
	return api{key: 9, min: 0, max: 10, handle: handlerOf(s.handleOffsetFetch)}
}

func (s *Server) handleOffsetFetch(ctx context.Context, r *request, req *kmsg.OffsetFetchRequest) (kmsg.Response, error) {
	if s.authz == nil {
		return s.deps.Groups.OffsetFetch(req), nil
	}
	// DESCRIBE on the group; the offsets of topics the principal may not
	// describe answer TOPIC_AUTHORIZATION_FAILED, or are left out when
	// every topic was asked for.
	if req.Version < 8 {
		if !r.may(opDescribe, resGroup, req.Group) {
			resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.ErrorCode = p, kerr.GroupAuthorizationFailed.Code
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp, nil
		}
		resp := s.deps.Groups.OffsetFetch(req)
		kept := resp.Topics[:0]
		for _, t := range resp.Topics {
			if !r.may(opDescribe, resTopic, t.Topic) {
				if req.Topics == nil {
					continue
				}
				for i := range t.Partitions {
					t.Partitions[i].Offset, t.Partitions[i].ErrorCode = -1, kerr.TopicAuthorizationFailed.Code
				}
			}
			kept = append(kept, t)
		}
		resp.Topics = kept
		return resp, nil
	}
	var allowed []kmsg.OffsetFetchRequestGroup
	var denied []string
	asked := map[string]bool{}
	for _, g := range req.Groups {
		if r.may(opDescribe, resGroup, g.Group) {
			allowed = append(allowed, g)
			asked[g.Group] = g.Topics != nil
		} else {
			denied = append(denied, g.Group)
		}
	}
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if len(allowed) > 0 {
		part := *req
		part.Groups = allowed
		resp = s.deps.Groups.OffsetFetch(&part)
	}
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		kept := g.Topics[:0]
		for _, t := range g.Topics {
			if !r.may(opDescribe, resTopic, s.topicName(t.Topic, t.TopicID)) {
				if !asked[g.Group] {
					continue
				}
				for i := range t.Partitions {
					t.Partitions[i].Offset, t.Partitions[i].ErrorCode = -1, kerr.TopicAuthorizationFailed.Code
				}
			}
			kept = append(kept, t)
		}
		g.Topics = kept
	}
	for _, id := range denied {
		g := kmsg.NewOffsetFetchResponseGroup()
		g.Group, g.ErrorCode = id, kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}
