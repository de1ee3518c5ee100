package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeGroups (key 15): state, protocol and members of groups.
func (s *Server) describeGroupsAPI() api {
	return api{key: 15, min: 0, max: 6, handle: handlerOf(s.handleDescribeGroups)}
}

func (s *Server) handleDescribeGroups(ctx context.Context, r *request, req *kmsg.DescribeGroupsRequest) (kmsg.Response, error) {
	allowed, denied := splitBy(req.Groups, func(g string) bool { return r.may(opDescribe, resGroup, g) })
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	if len(allowed) > 0 {
		part := *req
		part.Groups = allowed
		resp = s.deps.Groups.DescribeGroups(&part)
	}
	for i := range resp.Groups {
		if g := &resp.Groups[i]; g.AuthorizedOperations != noOps {
			g.AuthorizedOperations = r.allowedOps(g.AuthorizedOperations, resGroup, g.Group)
		}
	}
	for _, g := range denied {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group, dg.ErrorCode, dg.AuthorizedOperations = g, kerr.GroupAuthorizationFailed.Code, noOps
		resp.Groups = append(resp.Groups, dg)
	}
	return resp, nil
}
