package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeCluster (key 60): brokers, cluster id and controller, as the
// AdminClient's describeCluster asks.
func (s *Server) describeClusterAPI() api {
	return api{key: 60, min: 0, max: 2, handle: handlerOf(s.handleDescribeCluster)}
}

func (s *Server) handleDescribeCluster(ctx context.Context, r *request, req *kmsg.DescribeClusterRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		msg := "KOP brokers are the only endpoints (endpoint type 1)"
		resp.ErrorMessage = &msg
		return resp, nil
	}
	resp.EndpointType = 1
	resp.ClusterID = s.deps.Meta.ClusterID()
	resp.ControllerID = -1
	if id, ok := s.deps.Meta.LeaderID(); ok {
		resp.ControllerID = id
	}
	resp.ClusterAuthorizedOperations = noOps
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = r.allowedOps(clusterOps, resCluster, clusterName)
	}
	for _, b := range s.brokersFor(r.conn.lis.Name) {
		db := kmsg.NewDescribeClusterResponseBroker()
		db.NodeID, db.Host, db.Port, db.Rack = b.NodeID, b.Host, b.Port, b.Rack
		resp.Brokers = append(resp.Brokers, db)
	}
	return resp, nil
}
