package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteTopics (key 20): remove topics from Raft metadata, then their data.
func (s *Server) deleteTopicsAPI() api {
	return api{key: 20, min: 0, max: 6, handle: handlerOf(s.handleDeleteTopics)}
}

func (s *Server) handleDeleteTopics(ctx context.Context, r *request, req *kmsg.DeleteTopicsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version < 6 {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: &n})
		}
	} else {
		for _, t := range req.Topics {
			targets = append(targets, target{name: t.Topic, id: t.TopicID})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		var name string
		switch {
		case tg.name != nil:
			name = *tg.name
			if t, ok := s.deps.Meta.Topic(name); ok {
				st.TopicID = t.ID
			} else {
				st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
		default:
			t, ok := s.deps.Meta.TopicByID(tg.id)
			if !ok {
				st.ErrorCode = kerr.UnknownTopicID.Code
			} else {
				name = t.Name
				st.Topic = &t.Name
			}
		}
		if name != "" && !r.may(opDelete, resTopic, name) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
		}
		if st.ErrorCode == kerr.UnknownTopicOrPartition.Code && isInternalTopic(name) {
			st.ErrorCode, st.ErrorMessage = errorCode(errInternalTopic(name)), errMessage(errInternalTopic(name))
		}
		if st.ErrorCode == 0 {
			if err := s.deleteTopic(ctx, name); err != nil {
				st.ErrorCode, st.ErrorMessage = errorCode(err), errMessage(err)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// deleteTopic deletes the topic through Raft. Its data goes on the Raft
// leader before the deletion commits (raftmeta's PrepareDeleteTopic), not
// here after it: a late deletion here could hit the topic created again
// under the same name meanwhile.
func (s *Server) deleteTopic(ctx context.Context, name string) error {
	if err := s.deps.Meta.DeleteTopic(ctx, name); err != nil {
		return err
	}
	s.log.Info("deleted topic", "topic", name)
	s.metrics.topics.forget(name) // its series on this broker
	return nil
}
