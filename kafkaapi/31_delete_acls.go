package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// DeleteAcls (key 31): removes the bindings matching each filter and
// lists what each removed. Needs ALTER on the cluster.
func (s *Server) deleteAclsAPI() api {
	return api{key: 31, min: 0, max: 3, handle: handlerOf(s.handleDeleteAcls)}
}

func (s *Server) handleDeleteAcls(ctx context.Context, r *request, req *kmsg.DeleteACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	results := make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	for i := range results {
		results[i] = kmsg.NewDeleteACLsResponseResult()
	}
	resp.Results = results
	failAll := func(code int16, msg string) {
		for i := range results {
			results[i].ErrorCode = code
			if msg != "" {
				m := msg
				results[i].ErrorMessage = &m
			}
		}
	}
	if s.deps.Security == nil || !s.deps.Authz.Enabled {
		failAll(kerr.SecurityDisabled.Code, "no authorizer is configured (authorizationEnabled=false)")
		return resp, nil
	}
	if !r.may(opAlter, resCluster, clusterName) {
		failAll(kerr.ClusterAuthorizationFailed.Code, "")
		return resp, nil
	}
	all := s.deps.Security.Acls()
	removed := map[raftmeta.Acl]bool{}
	var remove []raftmeta.Acl
	for i, fw := range req.Filters {
		pattern := "literal"
		if req.Version >= 1 {
			pattern = aclPatternName(fw.ResourcePatternType)
		}
		f := aclFilter{resourceType: aclResourceName(fw.ResourceType), name: fw.ResourceName, pattern: pattern,
			principal: fw.Principal, host: fw.Host, operation: aclOperationName(fw.Operation), permission: aclPermissionName(fw.PermissionType)}
		if why := f.check(); why != "" {
			results[i].ErrorCode = kerr.InvalidRequest.Code
			results[i].ErrorMessage = &why
			continue
		}
		for _, a := range all {
			if !f.matches(a) {
				continue
			}
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = aclResourceType(a.ResourceType), a.ResourceName, aclPatternType(a.PatternType)
			m.Principal, m.Host, m.Operation, m.PermissionType = a.Principal, a.Host, aclOperation(a.Operation), aclPermission(a.Permission)
			results[i].MatchingACLs = append(results[i].MatchingACLs, m)
			if !removed[a] {
				removed[a] = true
				remove = append(remove, a)
			}
		}
	}
	if len(remove) > 0 {
		if err := s.deps.Security.ChangeAcls(ctx, nil, remove); err != nil {
			for i := range results {
				if results[i].ErrorCode == 0 {
					results[i].ErrorCode = errorCode(err)
					results[i].ErrorMessage = errMessage(err)
					results[i].MatchingACLs = nil
				}
			}
		}
	}
	return resp, nil
}
