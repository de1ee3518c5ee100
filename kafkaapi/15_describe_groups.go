package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups (key 15): state, protocol and members of groups.
func (s *Server) describeGroupsAPI() api {
	return api{key: 15, min: 0, max: 6, handle: handlerOf(s.handleDescribeGroups)}
}

func (s *Server) handleDescribeGroups(ctx context.Context, r *request, req *kmsg.DescribeGroupsRequest) (kmsg.Response, error) {
	return s.deps.Groups.DescribeGroups(req), nil
}
