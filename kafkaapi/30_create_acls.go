package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// CreateAcls (key 30): adds ACL bindings, stored in Raft; each creation
// answers on its own. Needs ALTER on the cluster.
func (s *Server) createAclsAPI() api {
	return api{key: 30, min: 0, max: 3, handle: handlerOf(s.handleCreateAcls)}
}

func (s *Server) handleCreateAcls(ctx context.Context, r *request, req *kmsg.CreateACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	fail := func(code int16, msg string) {
		for range req.Creations {
			res := kmsg.NewCreateACLsResponseResult()
			res.ErrorCode = code
			if msg != "" {
				m := msg
				res.ErrorMessage = &m
			}
			resp.Results = append(resp.Results, res)
		}
	}
	if s.deps.Security == nil || !s.deps.Authz.Enabled {
		fail(kerr.SecurityDisabled.Code, "no authorizer is configured (authorizationEnabled=false)")
		return resp, nil
	}
	if !r.may(opAlter, resCluster, clusterName) {
		fail(kerr.ClusterAuthorizationFailed.Code, "")
		return resp, nil
	}
	var add []raftmeta.Acl
	results := make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	for i, c := range req.Creations {
		results[i] = kmsg.NewCreateACLsResponseResult()
		pattern := c.ResourcePatternType
		if req.Version == 0 {
			pattern = kmsg.ACLResourcePatternTypeLiteral
		}
		a, why := bindingFromWire(c.ResourceType, c.ResourceName, pattern, c.Principal, c.Host, c.Operation, c.PermissionType)
		if why != "" {
			results[i].ErrorCode = kerr.InvalidRequest.Code
			results[i].ErrorMessage = &why
			continue
		}
		add = append(add, a)
	}
	if len(add) > 0 {
		if err := s.deps.Security.ChangeAcls(ctx, add, nil); err != nil {
			for i := range results {
				if results[i].ErrorCode == 0 {
					results[i].ErrorCode = errorCode(err)
					results[i].ErrorMessage = errMessage(err)
				}
			}
		}
	}
	resp.Results = results
	return resp, nil
}
