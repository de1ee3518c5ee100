package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ListGroups (key 16): every group this broker coordinates, filtered by
// state (v4+) and type (v5+).
func (s *Server) listGroupsAPI() api {
	return api{key: 16, min: 0, max: 5, handle: handlerOf(s.handleListGroups)}
}

func (s *Server) handleListGroups(ctx context.Context, r *request, req *kmsg.ListGroupsRequest) (kmsg.Response, error) {
	resp := s.deps.Groups.ListGroups(req)
	if s.authz != nil && !r.may(opDescribe, resCluster, clusterName) {
		// Without DESCRIBE on the cluster, the groups one may describe.
		kept := resp.Groups[:0]
		for _, g := range resp.Groups {
			if r.may(opDescribe, resGroup, g.Group) {
				kept = append(kept, g)
			}
		}
		resp.Groups = kept
	}
	return resp, nil
}
