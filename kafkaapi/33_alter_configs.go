package kafkaapi

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/storage"
)

// AlterConfigs (key 33): replace a topic's whole set of explicit configs.
// Broker settings are static (files, environment, flags) and refused.
func (s *Server) alterConfigsAPI() api {
	return api{key: 33, min: 0, max: 2, handle: handlerOf(s.handleAlterConfigs)}
}

func (s *Server) handleAlterConfigs(ctx context.Context, r *request, req *kmsg.AlterConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if !r.mayConfig(opAlterConfigs, rr.ResourceType, rr.ResourceName) {
			sr.ErrorCode = configAuthError(rr.ResourceType)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		configs := make(map[string]string, len(rr.Configs))
		for _, c := range rr.Configs {
			if c.Value != nil {
				configs[c.Name] = *c.Value
			}
		}
		err := s.alterTopicConfigs(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(map[string]string) (map[string]string, error) {
			return configs, nil
		})
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// alterTopicConfigs computes a topic's new explicit configs with change,
// validates them, and (unless validateOnly) stores them in Raft and applies
// them to the open partitions.
func (s *Server) alterTopicConfigs(ctx context.Context, typ kmsg.ConfigResourceType, name string, validateOnly bool, change func(old map[string]string) (map[string]string, error)) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		return kerrWith(kerr.InvalidRequest, fmt.Errorf("broker settings are static in KOP: set them in the config file, KOP_* environment or flags"))
	default:
		return kerrWith(kerr.InvalidRequest, fmt.Errorf("unsupported resource type %d", typ))
	}
	t, ok := s.deps.Meta.Topic(name)
	if !ok {
		return kerrWith(kerr.UnknownTopicOrPartition, fmt.Errorf("topic %q does not exist", name))
	}
	next, err := change(t.Configs)
	if err != nil {
		return err
	}
	cfg, err := storage.ParseTopicConfig(next, s.deps.Config.TopicDefaults)
	if err != nil {
		return err
	}
	if validateOnly {
		return nil
	}
	if err := s.deps.Meta.SetTopicConfigs(ctx, name, next); err != nil {
		return err
	}
	s.deps.Partitions.SetConfig(name, cfg)
	return nil
}
