package kafkaapi

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// DescribeAcls (key 29): the ACL bindings matching a filter, grouped by
// resource. Needs DESCRIBE on the cluster.
func (s *Server) describeAclsAPI() api {
	return api{key: 29, min: 0, max: 3, handle: handlerOf(s.handleDescribeAcls)}
}

// aclFilter is a DescribeAcls or DeleteAcls filter, with stored names;
// nil fields and "any" match everything.
type aclFilter struct {
	resourceType string
	name         *string
	pattern      string // any, match, literal, prefixed
	principal    *string
	host         *string
	operation    string
	permission   string
}

// check says why the filter is invalid, "" when it is not.
func (f aclFilter) check() string {
	for _, v := range []string{f.resourceType, f.pattern, f.operation, f.permission} {
		if v == "unknown" {
			return "the filter names an unknown resource type, pattern type, operation or permission"
		}
	}
	if f.pattern == "match" && f.name == nil {
		return "a MATCH filter needs a resource name"
	}
	return ""
}

func (f aclFilter) matches(a raftmeta.Acl) bool {
	if f.resourceType != "any" && f.resourceType != a.ResourceType {
		return false
	}
	switch f.pattern {
	case "any":
		if f.name != nil && *f.name != a.ResourceName {
			return false
		}
	case "match":
		// Every binding that applies to the named resource.
		if !resourceMatches(a, a.ResourceType, *f.name) {
			return false
		}
	default:
		if f.pattern != a.PatternType || f.name != nil && *f.name != a.ResourceName {
			return false
		}
	}
	return (f.principal == nil || *f.principal == a.Principal) &&
		(f.host == nil || *f.host == a.Host) &&
		(f.operation == "any" || f.operation == a.Operation) &&
		(f.permission == "any" || f.permission == a.Permission)
}

func (s *Server) handleDescribeAcls(_ context.Context, r *request, req *kmsg.DescribeACLsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if s.deps.Security == nil || !s.deps.Authz.Enabled {
		resp.ErrorCode = kerr.SecurityDisabled.Code
		msg := "no authorizer is configured (authorizationEnabled=false)"
		resp.ErrorMessage = &msg
		return resp, nil
	}
	if !r.may(opDescribe, resCluster, clusterName) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	pattern := "literal"
	if req.Version >= 1 {
		pattern = aclPatternName(req.ResourcePatternType)
	}
	f := aclFilter{resourceType: aclResourceName(req.ResourceType), name: req.ResourceName, pattern: pattern,
		principal: req.Principal, host: req.Host, operation: aclOperationName(req.Operation), permission: aclPermissionName(req.PermissionType)}
	if why := f.check(); why != "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = &why
		return resp, nil
	}
	type key struct{ rtype, name, pattern string }
	index := map[key]int{}
	for _, a := range s.deps.Security.Acls() {
		if !f.matches(a) {
			continue
		}
		k := key{a.ResourceType, a.ResourceName, a.PatternType}
		i, ok := index[k]
		if !ok {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = aclResourceType(a.ResourceType), a.ResourceName, aclPatternType(a.PatternType)
			resp.Resources = append(resp.Resources, res)
			i = len(resp.Resources) - 1
			index[k] = i
		}
		acl := kmsg.NewDescribeACLsResponseResourceACL()
		acl.Principal, acl.Host, acl.Operation, acl.PermissionType = a.Principal, a.Host, aclOperation(a.Operation), aclPermission(a.Permission)
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, acl)
	}
	return resp, nil
}

// bindingFromWire checks a binding of CreateAcls and returns it with
// stored names, or why it is invalid.
func bindingFromWire(rtype kmsg.ACLResourceType, name string, pattern kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) (raftmeta.Acl, string) {
	a := raftmeta.Acl{ResourceType: aclResourceName(rtype), ResourceName: name, PatternType: aclPatternName(pattern),
		Principal: principal, Host: host, Operation: aclOperationName(op), Permission: aclPermissionName(perm)}
	switch {
	case a.ResourceType != resTopic && a.ResourceType != resGroup && a.ResourceType != resCluster && a.ResourceType != resTxnID:
		return a, "the resource type must be TOPIC, GROUP, CLUSTER or TRANSACTIONAL_ID"
	case a.PatternType != "literal" && a.PatternType != "prefixed":
		return a, "the pattern type must be LITERAL or PREFIXED"
	case a.ResourceType == resCluster && (a.ResourceName != clusterName || a.PatternType != "literal"):
		return a, "the cluster resource is the literal kafka-cluster"
	case a.ResourceName == "":
		return a, "the resource name must not be empty"
	case a.PatternType == "prefixed" && a.ResourceName == "*":
		return a, "a PREFIXED pattern cannot be the wildcard"
	case !strings.HasPrefix(a.Principal, "User:") || len(a.Principal) == len("User:"):
		return a, "the principal must be User:<name> (or User:*)"
	case a.Host == "":
		return a, "the host must be an address or *"
	case a.Permission != "allow" && a.Permission != "deny":
		return a, "the permission must be ALLOW or DENY"
	}
	switch a.Operation {
	case opAll, opRead, opWrite, opCreate, opDelete, opAlter, opDescribe, opClusterAction, opDescribeConfigs, opAlterConfigs, opIdempotentWrite:
	default:
		return a, "the operation is not one KOP's resources know"
	}
	return a, ""
}
