package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/security"
)

// scramMechanisms are the wire codes of SCRAM mechanisms (KIP-554).
var scramMechanisms = map[int8]string{1: security.ScramSHA256, 2: security.ScramSHA512}

func scramMechanismCode(name string) int8 {
	for code, n := range scramMechanisms {
		if n == name {
			return code
		}
	}
	return 0
}

// DescribeUserScramCredentials (key 50): the mechanisms and iteration
// counts of users' SCRAM credentials (never salts or keys); all users when
// none are named.
func (s *Server) describeUserScramCredentialsAPI() api {
	return api{key: 50, min: 0, max: 0, handle: handlerOf(s.handleDescribeUserScramCredentials)}
}

func (s *Server) handleDescribeUserScramCredentials(_ context.Context, r *request, req *kmsg.DescribeUserSCRAMCredentialsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	if s.deps.Security == nil {
		resp.ErrorCode = kerr.SecurityDisabled.Code
		return resp, nil
	}
	if !r.may(opDescribe, resCluster, clusterName) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	byUser := map[string][]kmsg.DescribeUserSCRAMCredentialsResponseResultCredentialInfo{}
	var order []string
	for _, c := range s.deps.Security.ScramCredentials() {
		if _, seen := byUser[c.User]; !seen {
			order = append(order, c.User)
		}
		info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
		info.Mechanism, info.Iterations = scramMechanismCode(c.Mechanism), int32(c.Iterations)
		byUser[c.User] = append(byUser[c.User], info)
	}
	add := func(user string, code int16, msg string) {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode = user, code
		if msg != "" {
			res.ErrorMessage = &msg
		}
		if code == 0 {
			res.CredentialInfos = byUser[user]
		}
		resp.Results = append(resp.Results, res)
	}
	if len(req.Users) == 0 { // null or empty: every user
		for _, u := range order {
			add(u, 0, "")
		}
		return resp, nil
	}
	count := map[string]int{}
	for _, u := range req.Users {
		count[u.Name]++
	}
	done := map[string]bool{}
	for _, u := range req.Users {
		switch {
		case done[u.Name]:
		case count[u.Name] > 1:
			add(u.Name, kerr.DuplicateResource.Code, "Cannot describe SCRAM credentials for the same user twice in a single request: "+u.Name)
		case len(byUser[u.Name]) == 0:
			add(u.Name, kerr.ResourceNotFound.Code, "Attempt to describe a user credential that does not exist: "+u.Name)
		default:
			add(u.Name, 0, "")
		}
		done[u.Name] = true
	}
	return resp, nil
}
