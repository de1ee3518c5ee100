package kafkaapi

import (
	"context"

	"github.com/kop-project/kop/partition"
	"github.com/kop-project/kop/raftmeta"
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

// Deps are the Server's collaborators.
type Deps struct {
	NodeID     int32
	Meta       Metadata
	Partitions *partition.Manager
	Config     BrokerConfig
}
