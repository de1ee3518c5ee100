package kafkaapi

import (
	"context"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeConfigs (key 32): topic configs with their sources and defaults,
// and the broker's static settings.
func (s *Server) describeConfigsAPI() api {
	return api{key: 32, min: 0, max: 4, handle: handlerOf(s.handleDescribeConfigs)}
}

func (s *Server) handleDescribeConfigs(ctx context.Context, r *request, req *kmsg.DescribeConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []configEntry
		if !r.mayConfig(opDescribeConfigs, rr.ResourceType, rr.ResourceName) {
			sr.ErrorCode = configAuthError(rr.ResourceType)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, ok := s.deps.Meta.Topic(rr.ResourceName)
			if !ok {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			entries = s.topicConfigEntries(t.Configs, rr.ConfigNames, req.IncludeSynonyms, req.IncludeDocumentation)
		case kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName == "" {
				// The cluster-wide dynamic default: KOP has none.
				break
			}
			if id, err := strconv.ParseInt(rr.ResourceName, 10, 32); err != nil || int32(id) != s.deps.NodeID {
				sr.ErrorCode = kerr.InvalidRequest.Code
				msg := "describe broker configs on the broker itself; this is broker " + strconv.Itoa(int(s.deps.NodeID))
				sr.ErrorMessage = &msg
				break
			}
			entries = s.brokerConfigEntries(rr.ConfigNames, req.IncludeDocumentation)
		case kmsg.ConfigResourceTypeBrokerLogger:
			// No per-logger levels: an empty set, as a broker with none.
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
		}
		for _, e := range entries {
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.Value, c.ReadOnly, c.IsDefault, c.Source, c.IsSensitive = e.Name, e.Value, e.ReadOnly, e.IsDefault, e.Source, e.IsSensitive
			c.ConfigSynonyms = e.Synonyms
			c.ConfigType = wireConfigType(e.Type)
			if e.Doc != "" {
				d := e.Doc
				c.Documentation = &d
			}
			sr.Configs = append(sr.Configs, c)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}
