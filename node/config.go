package node

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/kop-project/kop/coordinator"
	"github.com/kop-project/kop/coordinator/txn"
	"github.com/kop-project/kop/kafkaapi"
	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/security"
)

// Listener is one Kafka listener: where to bind and what to advertise.
type Listener struct {
	Name       string      // PLAINTEXT, …
	Bind       string      // host:port
	Advertised string      // host:port clients are told to use
	TLS        *tls.Config // SSL, SASL_SSL
	SASL       bool        // SASL_PLAINTEXT, SASL_SSL
}

// SASLConfig is how SASL listeners authenticate.
type SASLConfig struct {
	Mechanisms []string
	// Tokens checks PLAIN passwords as Pulsar tokens; nil: PLAIN checks
	// the SCRAM credentials.
	Tokens *security.TokenVerifier
	// OAuth checks OAUTHBEARER tokens (nil: not enabled).
	OAuth *security.OAuthVerifier
	// ReauthMs bounds a session (connectionsMaxReauthMs); 0: none.
	ReauthMs int64
	// FailedDelay delays the answer to a failed authentication.
	FailedDelay time.Duration
}

// Config is everything a node needs, already validated (conf builds it
// from files, environment and flags).
type Config struct {
	NodeID    int32
	Version   string // KOP's build version, reported at registration
	Mode      string // "standalone" or "kafka-broker"
	DataDir   string
	Listeners []Listener
	Rack      string

	RaftBind       string
	RaftAdvertised string
	// RaftTLS and RaftPeerTLS put the Raft port under TLS with mutual
	// certificates (raftSecurityProtocol=SSL); nil: plain TCP.
	RaftTLS, RaftPeerTLS *tls.Config
	RaftPeers            []raftmeta.Peer

	HTTPAddress string // empty disables the admin endpoint

	AllowAutoTopicCreation bool
	DefaultNumPartitions   int32
	// TopicDefaults are broker-level defaults of topic configs by Kafka
	// name (retention.ms, …).
	TopicDefaults map[string]string
	// BrokerSettings are the broker's effective settings, reported by
	// DescribeConfigs on the broker resource.
	BrokerSettings []kafkaapi.ConfigEntry

	MaxRequestBytes int32
	// RequestReadTimeout bounds reading one request once its size arrived.
	RequestReadTimeout time.Duration
	// MaxDecompressedBatchBytes bounds a produced batch's decompressed
	// records.
	MaxDecompressedBatchBytes int
	// QueuedMaxRequestBytes bounds the bytes of requests being read or
	// waiting, broker-wide.
	QueuedMaxRequestBytes int64
	// MaxConnections and MaxConnectionsPerIP cap client connections (0: no cap).
	MaxConnections      int
	MaxConnectionsPerIP int
	IdleTimeout         time.Duration
	RequestTimeout      time.Duration
	RetentionCheck      time.Duration
	ShutdownTimeout     time.Duration
	// CleanerBackoff and DedupeBufferSize tune the cleaner of compacted
	// topics (disklog.Options, pulsarbridge.Options); zero takes defaults.
	CleanerBackoff   time.Duration
	DedupeBufferSize int64
	// BrokerSessionTimeout: a broker the Raft leader cannot reach for this
	// long loses its partitions to the reachable brokers (failover.go).
	BrokerSessionTimeout time.Duration
	// AutoLeaderRebalance gives partitions back to their preferred leader
	// once it is reachable again (failover.go).
	AutoLeaderRebalance bool

	// InterBrokerListener names the listener other brokers connect to
	// (transaction markers); empty: the first. PeerTLS is the client TLS
	// configuration for it when it is an SSL listener.
	InterBrokerListener string
	PeerTLS             *tls.Config
	// LogLevel, when set, is the level of Logger, which
	// GET/PUT /loglevel on the admin endpoint read and change.
	LogLevel *slog.LevelVar
	// SASL configures SASL_PLAINTEXT and SASL_SSL listeners.
	SASL SASLConfig
	// Authz configures ACL enforcement.
	Authz kafkaapi.AuthzConfig
	// MultiTenant gives token logins their tenant's namespace
	// (kafkaEnableMultiTenantMetadata).
	MultiTenant bool
	// AuthzCacheRefresh is how long Pulsar's permissions are cached
	// (kopAuthorizationCacheRefreshMs).
	AuthzCacheRefresh time.Duration

	// Groups configures the group coordinator (its Logger is set by the
	// node).
	Groups coordinator.Config
	// Txns configures the transaction coordinator (its Logger and
	// ProducerID are set by the node).
	Txns txn.Config

	// BrokerServiceURL selects the Pulsar backend when set; WebServiceURL
	// is Pulsar's admin API; Kafka topics live in KafkaTenant/KafkaNamespace.
	BrokerServiceURL string
	WebServiceURL    string
	// PulsarAuth authenticates KOP to Pulsar (plugin and parameters as
	// Pulsar names them); PulsarTrustCerts is the CA file for TLS URLs.
	PulsarAuthPlugin string
	PulsarAuthParams string
	PulsarTrustCerts string
	KafkaTenant      string
	KafkaNamespace   string

	Logger *slog.Logger
}
