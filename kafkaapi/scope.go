package kafkaapi

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/scope"
	"github.com/kop-project/kop/security"
)

// Tenancy lets the tenant (or tenant/namespace) a Pulsar token's user
// name names select where the client's topics, groups and transactional
// ids live (kafkaEnableMultiTenantMetadata): two tenants' names never mix
// and neither sees the other's (package scope has the mapping).
type Tenancy struct {
	// Default is kafkaTenant/kafkaNamespace: a token naming it, and every
	// client that did not log in with a token, work there, unqualified.
	Default string
	// Namespace is kafkaNamespace, the namespace of a user name that
	// names only a tenant.
	Namespace string
	// Check, when set, refuses a namespace at authentication: a tenant
	// Pulsar does not have, a role that may not use the namespace.
	Check func(ctx context.Context, ns, role string) error
}

// namespaceOf is the namespace a principal works in.
func (t *Tenancy) namespaceOf(p security.Principal) (scope.Namespace, error) {
	if t == nil || p.Tenant == "" {
		return scope.Default, nil
	}
	ns, err := scope.ParseNamespace(p.Tenant, t.Namespace)
	if err != nil || string(ns) == t.Default {
		return scope.Default, err
	}
	return ns, nil
}

// scopeRequest rewrites the names of a request from a client in ns to
// the stored names handlers work with; a topic id of another namespace's
// topic becomes the zero id (unknown), so ids cannot reach across either.
// The ACL and SCRAM APIs name cluster-wide things and are left alone, as
// is WriteTxnMarkers, which brokers send with stored names.
func (s *Server) scopeRequest(ns scope.Namespace, req kmsg.Request) {
	t := ns.Topic
	id := ns.ID
	tid := func(x *[16]byte) {
		if *x == ([16]byte{}) {
			return
		}
		if tp, ok := s.deps.Meta.TopicByID(*x); ok {
			if _, mine := ns.VisibleTopic(tp.Name); !mine {
				*x = [16]byte{}
			}
		}
	}
	optID := func(p *string) {
		if p != nil {
			*p = id(*p)
		}
	}
	switch r := req.(type) {
	case *kmsg.ProduceRequest:
		optID(r.TransactionID)
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
			tid(&r.Topics[i].TopicID)
		}
	case *kmsg.FetchRequest:
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
			tid(&r.Topics[i].TopicID)
		}
		for i := range r.ForgottenTopics {
			r.ForgottenTopics[i].Topic = t(r.ForgottenTopics[i].Topic)
			tid(&r.ForgottenTopics[i].TopicID)
		}
	case *kmsg.ListOffsetsRequest:
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
		}
	case *kmsg.MetadataRequest:
		for i := range r.Topics {
			if r.Topics[i].Topic != nil {
				v := t(*r.Topics[i].Topic)
				r.Topics[i].Topic = &v
			}
			tid(&r.Topics[i].TopicID)
		}
	case *kmsg.OffsetCommitRequest:
		r.Group = id(r.Group)
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
			tid(&r.Topics[i].TopicID)
		}
	case *kmsg.OffsetFetchRequest:
		r.Group = id(r.Group)
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
		}
		for i := range r.Groups {
			g := &r.Groups[i]
			g.Group = id(g.Group)
			for j := range g.Topics {
				g.Topics[j].Topic = t(g.Topics[j].Topic)
				tid(&g.Topics[j].TopicID)
			}
		}
	case *kmsg.FindCoordinatorRequest:
		r.CoordinatorKey = id(r.CoordinatorKey)
		for i := range r.CoordinatorKeys {
			r.CoordinatorKeys[i] = id(r.CoordinatorKeys[i])
		}
	case *kmsg.JoinGroupRequest:
		r.Group = id(r.Group)
	case *kmsg.HeartbeatRequest:
		r.Group = id(r.Group)
	case *kmsg.LeaveGroupRequest:
		r.Group = id(r.Group)
	case *kmsg.SyncGroupRequest:
		r.Group = id(r.Group)
	case *kmsg.DescribeGroupsRequest:
		for i := range r.Groups {
			r.Groups[i] = id(r.Groups[i])
		}
	case *kmsg.CreateTopicsRequest:
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
		}
	case *kmsg.DeleteTopicsRequest:
		for i := range r.TopicNames {
			r.TopicNames[i] = t(r.TopicNames[i])
		}
		for i := range r.Topics {
			if r.Topics[i].Topic != nil {
				v := t(*r.Topics[i].Topic)
				r.Topics[i].Topic = &v
			}
			tid(&r.Topics[i].TopicID)
		}
	case *kmsg.DeleteRecordsRequest:
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
		}
	case *kmsg.InitProducerIDRequest:
		optID(r.TransactionalID)
	case *kmsg.OffsetForLeaderEpochRequest:
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
		}
	case *kmsg.AddPartitionsToTxnRequest:
		r.TransactionalID = id(r.TransactionalID)
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
		}
	case *kmsg.AddOffsetsToTxnRequest:
		r.TransactionalID, r.Group = id(r.TransactionalID), id(r.Group)
	case *kmsg.EndTxnRequest:
		r.TransactionalID = id(r.TransactionalID)
	case *kmsg.TxnOffsetCommitRequest:
		r.TransactionalID, r.Group = id(r.TransactionalID), id(r.Group)
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
		}
	case *kmsg.DescribeConfigsRequest:
		for i := range r.Resources {
			if r.Resources[i].ResourceType == kmsg.ConfigResourceTypeTopic {
				r.Resources[i].ResourceName = t(r.Resources[i].ResourceName)
			}
		}
	case *kmsg.AlterConfigsRequest:
		for i := range r.Resources {
			if r.Resources[i].ResourceType == kmsg.ConfigResourceTypeTopic {
				r.Resources[i].ResourceName = t(r.Resources[i].ResourceName)
			}
		}
	case *kmsg.IncrementalAlterConfigsRequest:
		for i := range r.Resources {
			if r.Resources[i].ResourceType == kmsg.ConfigResourceTypeTopic {
				r.Resources[i].ResourceName = t(r.Resources[i].ResourceName)
			}
		}
	case *kmsg.CreatePartitionsRequest:
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
		}
	case *kmsg.DeleteGroupsRequest:
		for i := range r.Groups {
			r.Groups[i] = id(r.Groups[i])
		}
	case *kmsg.OffsetDeleteRequest:
		r.Group = id(r.Group)
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
		}
	case *kmsg.DescribeProducersRequest:
		for i := range r.Topics {
			r.Topics[i].Topic = t(r.Topics[i].Topic)
		}
	case *kmsg.DescribeTransactionsRequest:
		for i := range r.TransactionalIDs {
			r.TransactionalIDs[i] = id(r.TransactionalIDs[i])
		}
	}
}

// scopeResponse rewrites a response's stored names back to the names the
// client in ns uses, and drops the entries of other namespaces from the
// listings (Metadata of all topics, ListGroups, ListTransactions, a
// group's committed offsets).
func scopeResponse(ns scope.Namespace, resp kmsg.Response) {
	t := ns.VisibleTopic
	id := ns.VisibleID
	// keep rewrites every element's name with f and drops those f refuses.
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.ProduceResponseTopic) bool { return mapName(&x.Topic, t) })
	case *kmsg.FetchResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.FetchResponseTopic) bool { return mapName(&x.Topic, t) })
	case *kmsg.ListOffsetsResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.ListOffsetsResponseTopic) bool { return mapName(&x.Topic, t) })
	case *kmsg.MetadataResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.MetadataResponseTopic) bool { return mapOptName(&x.Topic, t) })
	case *kmsg.OffsetCommitResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.OffsetCommitResponseTopic) bool { return mapName(&x.Topic, t) })
	case *kmsg.OffsetFetchResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.OffsetFetchResponseTopic) bool { return mapName(&x.Topic, t) })
		r.Groups = keep(r.Groups, func(g *kmsg.OffsetFetchResponseGroup) bool {
			g.Topics = keep(g.Topics, func(x *kmsg.OffsetFetchResponseGroupTopic) bool { return mapName(&x.Topic, t) })
			return mapName(&g.Group, id)
		})
	case *kmsg.FindCoordinatorResponse:
		r.Coordinators = keep(r.Coordinators, func(x *kmsg.FindCoordinatorResponseCoordinator) bool { return mapName(&x.Key, id) })
	case *kmsg.DescribeGroupsResponse:
		r.Groups = keep(r.Groups, func(x *kmsg.DescribeGroupsResponseGroup) bool { return mapName(&x.Group, id) })
	case *kmsg.ListGroupsResponse:
		r.Groups = keep(r.Groups, func(x *kmsg.ListGroupsResponseGroup) bool { return mapName(&x.Group, id) })
	case *kmsg.CreateTopicsResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.CreateTopicsResponseTopic) bool { return mapName(&x.Topic, t) })
	case *kmsg.DeleteTopicsResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.DeleteTopicsResponseTopic) bool { return mapOptName(&x.Topic, t) })
	case *kmsg.DeleteRecordsResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.DeleteRecordsResponseTopic) bool { return mapName(&x.Topic, t) })
	case *kmsg.OffsetForLeaderEpochResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.OffsetForLeaderEpochResponseTopic) bool { return mapName(&x.Topic, t) })
	case *kmsg.AddPartitionsToTxnResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.AddPartitionsToTxnResponseTopic) bool { return mapName(&x.Topic, t) })
	case *kmsg.TxnOffsetCommitResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.TxnOffsetCommitResponseTopic) bool { return mapName(&x.Topic, t) })
	case *kmsg.DescribeConfigsResponse:
		r.Resources = keep(r.Resources, func(x *kmsg.DescribeConfigsResponseResource) bool {
			return x.ResourceType != kmsg.ConfigResourceTypeTopic || mapName(&x.ResourceName, t)
		})
	case *kmsg.AlterConfigsResponse:
		r.Resources = keep(r.Resources, func(x *kmsg.AlterConfigsResponseResource) bool {
			return x.ResourceType != kmsg.ConfigResourceTypeTopic || mapName(&x.ResourceName, t)
		})
	case *kmsg.IncrementalAlterConfigsResponse:
		r.Resources = keep(r.Resources, func(x *kmsg.IncrementalAlterConfigsResponseResource) bool {
			return x.ResourceType != kmsg.ConfigResourceTypeTopic || mapName(&x.ResourceName, t)
		})
	case *kmsg.CreatePartitionsResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.CreatePartitionsResponseTopic) bool { return mapName(&x.Topic, t) })
	case *kmsg.DeleteGroupsResponse:
		r.Groups = keep(r.Groups, func(x *kmsg.DeleteGroupsResponseGroup) bool { return mapName(&x.Group, id) })
	case *kmsg.OffsetDeleteResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.OffsetDeleteResponseTopic) bool { return mapName(&x.Topic, t) })
	case *kmsg.DescribeProducersResponse:
		r.Topics = keep(r.Topics, func(x *kmsg.DescribeProducersResponseTopic) bool { return mapName(&x.Topic, t) })
	case *kmsg.DescribeTransactionsResponse:
		r.TransactionStates = keep(r.TransactionStates, func(x *kmsg.DescribeTransactionsResponseTransactionState) bool {
			x.Topics = keep(x.Topics, func(y *kmsg.DescribeTransactionsResponseTransactionStateTopic) bool { return mapName(&y.Topic, t) })
			return mapName(&x.TransactionalID, id)
		})
	case *kmsg.ListTransactionsResponse:
		r.TransactionStates = keep(r.TransactionStates, func(x *kmsg.ListTransactionsResponseTransactionState) bool {
			return mapName(&x.TransactionalID, id)
		})
	}
}

// keep rewrites xs in place with f and keeps the elements f accepts.
func keep[T any](xs []T, f func(*T) bool) []T {
	out := xs[:0]
	for i := range xs {
		if f(&xs[i]) {
			out = append(out, xs[i])
		}
	}
	return out
}

// mapName replaces *p with what f makes of it, reporting f's verdict.
func mapName(p *string, f func(string) (string, bool)) bool {
	v, ok := f(*p)
	*p = v
	return ok
}

func mapOptName(p **string, f func(string) (string, bool)) bool {
	if *p == nil {
		return true
	}
	v, ok := f(**p)
	*p = &v
	return ok
}
