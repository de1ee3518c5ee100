package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DeleteGroups (key 42): empty groups are deleted with their committed
// offsets; groups with members get NON_EMPTY_GROUP.
func (s *Server) deleteGroupsAPI() api {
	return api{key: 42, min: 0, max: 3, handle: handlerOf(s.handleDeleteGroups)}
}

func (s *Server) handleDeleteGroups(ctx context.Context, r *request, req *kmsg.DeleteGroupsRequest) (kmsg.Response, error) {
	allowed, denied := splitBy(req.Groups, func(g string) bool { return r.may(opDelete, resGroup, g) })
	if len(denied) == 0 {
		return s.deps.Groups.DeleteGroups(req), nil
	}
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	if len(allowed) > 0 {
		part := *req
		part.Groups = allowed
		resp = s.deps.Groups.DeleteGroups(&part)
	}
	for _, g := range denied {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group, dg.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		resp.Groups = append(resp.Groups, dg)
	}
	return resp, nil
}
