package kafkaapi

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/storage"
)

// IncrementalAlterConfigs (key 44): SET, DELETE, APPEND and SUBTRACT on a
// topic's explicit configs (APPEND/SUBTRACT on list-typed configs only).
func (s *Server) incrementalAlterConfigsAPI() api {
	return api{key: 44, min: 0, max: 1, handle: handlerOf(s.handleIncrementalAlterConfigs)}
}

func (s *Server) handleIncrementalAlterConfigs(ctx context.Context, r *request, req *kmsg.IncrementalAlterConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if !r.mayConfig(opAlterConfigs, rr.ResourceType, rr.ResourceName) {
			sr.ErrorCode = configAuthError(rr.ResourceType)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		err := s.alterTopicConfigs(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(old map[string]string) (map[string]string, error) {
			return applyIncremental(old, rr.Configs)
		})
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func applyIncremental(old map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, error) {
	next := maps.Clone(old)
	if next == nil {
		next = make(map[string]string)
	}
	seen := make(map[string]bool)
	for _, op := range ops {
		if seen[op.Name] {
			return nil, kerrWith(kerr.InvalidRequest, fmt.Errorf("config %q appears more than once", op.Name))
		}
		seen[op.Name] = true
		d, ok := storage.LookupTopicConfig(op.Name)
		if !ok {
			return nil, kerrWith(kerr.InvalidConfig, fmt.Errorf("unknown topic config %q", op.Name))
		}
		val := ""
		if op.Value != nil {
			val = *op.Value
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if op.Value == nil {
				return nil, kerrWith(kerr.InvalidRequest, fmt.Errorf("SET of %q without a value", op.Name))
			}
			next[op.Name] = val
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(next, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if d.Type != storage.TypeList {
				return nil, kerrWith(kerr.InvalidConfig, fmt.Errorf("APPEND/SUBTRACT need a list config; %q is not one", op.Name))
			}
			cur, ok := next[op.Name]
			if !ok {
				cur = d.Default
			}
			items := splitList(cur)
			for _, v := range splitList(val) {
				has := slices.Contains(items, v)
				if op.Op == kmsg.IncrementalAlterConfigOpAppend && !has {
					items = append(items, v)
				} else if op.Op == kmsg.IncrementalAlterConfigOpSubtract && has {
					items = slices.DeleteFunc(items, func(x string) bool { return x == v })
				}
			}
			next[op.Name] = strings.Join(items, ",")
		default:
			return nil, kerrWith(kerr.InvalidRequest, fmt.Errorf("unknown operation %d on %q", op.Op, op.Name))
		}
	}
	return next, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
