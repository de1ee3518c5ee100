package kafkaapi

import (
	"context"
	"crypto/tls"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/partition"
	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/security"
)

// Metadata is what the protocol layer needs of the cluster metadata held in
// Raft (implemented by *raftmeta.Store).
type Metadata interface {
	ClusterID() string
	LeaderID() (int32, bool)
	Brokers() []raftmeta.Broker
	Topic(name string) (raftmeta.Topic, bool)
	TopicByID(id [16]byte) (raftmeta.Topic, bool)
	Topics() []raftmeta.Topic
	CreateTopic(ctx context.Context, name string, partitions int32, configs map[string]string, leader func(int32) int32) (raftmeta.Topic, error)
	DeleteTopic(ctx context.Context, name string) error
	CreatePartitions(ctx context.Context, name string, total int32, leader func(int32) int32) error
	SetTopicConfigs(ctx context.Context, name string, configs map[string]string) error
	AllocateProducerIDs(ctx context.Context, count int64) (int64, error)
}

// BrokerConfig is the broker-level configuration the handlers act on.
type BrokerConfig struct {
	AllowAutoTopicCreation bool
	DefaultNumPartitions   int32
	// TopicDefaults are the broker defaults of topic configs, by Kafka
	// name (retention.ms, max.message.bytes, …): what DescribeConfigs
	// reports as DEFAULT_CONFIG / STATIC_BROKER_CONFIG sources.
	TopicDefaults map[string]string
	// BrokerEntries are the broker's own settings for DescribeConfigs on a
	// BROKER resource.
	BrokerEntries []ConfigEntry
}

// ConfigEntry is one broker setting as DescribeConfigs shows it.
type ConfigEntry struct {
	Name      string
	Value     string
	Default   bool // the value is the built-in default
	Sensitive bool
	Doc       string
}

// Groups is the group coordinator (implemented by
// *coordinator.Coordinator). It takes decoded requests and returns filled
// responses; JoinGroup and SyncGroup block until the rebalance step
// completes or ctx ends.
type Groups interface {
	JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest, clientID, clientHost string) *kmsg.JoinGroupResponse
	SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse
	Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse
	LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse
	OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse
	OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse
	OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse
	DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse
	ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse
	DeleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse
}

// Transactions is the transaction coordinator (implemented by
// *txn.Coordinator); its calls wait for Raft and, for EndTxn, for the
// markers.
type Transactions interface {
	InitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse
	AddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse
	AddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) *kmsg.AddOffsetsToTxnResponse
	EndTxn(ctx context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse
	TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse
	DescribeTransactions(req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse
	ListTransactions(req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse
}

// Deps are the Server's collaborators.
type Deps struct {
	NodeID     int32
	Meta       Metadata
	Partitions *partition.Manager
	Groups     Groups
	Txns       Transactions
	Config     BrokerConfig
	// HoldsLease says whether this broker is still in touch with the
	// metadata quorum (raftmeta's lease); without it every partition
	// request (produce, fetch, ListOffsets, …) is answered
	// NOT_LEADER_OR_FOLLOWER and no partition is opened, before the Raft
	// leader moves the partitions elsewhere. nil: always held.
	HoldsLease func() bool
	// Auth runs SASL exchanges on SASL listeners; nil when there are
	// none.
	Auth *security.Authenticator
	// PeerTLS, when set, is how this broker connects to the others'
	// inter-broker listener (an SSL listener; its certificate is the
	// client certificate, so the brokers' subjects are their principals).
	PeerTLS *tls.Config
	// Authz configures authorization by the ACLs in Security.
	Authz AuthzConfig
	// Security holds SCRAM credentials and ACLs
	// (DescribeUserScramCredentials, AlterUserScramCredentials, the ACL
	// APIs); nil: those APIs answer SECURITY_DISABLED.
	Security SecurityStore
}

// SecurityStore is what the security APIs need of the metadata (implemented
// by *raftmeta.Store).
type SecurityStore interface {
	ScramCredentials() []raftmeta.ScramCredential
	AlterScramCredentials(ctx context.Context, upserts []raftmeta.ScramCredential, deletes []raftmeta.ScramKey) error
	AclStore
	ChangeAcls(ctx context.Context, add, remove []raftmeta.Acl) error
}
