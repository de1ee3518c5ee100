package conf

import (
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// key defines one configuration key: its documentation, its default per
// mode, and how a value is checked and stored in Config.
type key struct {
	name       string
	doc        string
	standalone string // default in standalone mode
	broker     string // default in kafka-broker mode, unless same
	same       bool   // broker default equals standalone default
	sensitive  bool
	// late keys are set after the others because they read them
	// (listeners read kafkaProtocolMap).
	late bool
	set  func(c *Config, k, v string) error
}

func (k key) defaultFor(m Mode) string {
	if m == KafkaBroker && !k.same {
		return k.broker
	}
	return k.standalone
}

// both is a key whose default does not depend on the mode.
func both(name, def, doc string, set func(c *Config, k, v string) error) key {
	return key{name: name, doc: doc, standalone: def, same: true, set: set}
}

func parseInt(k, v string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, keyError(k, v, fmt.Sprintf("must be between %d and %d", lo, hi))
		}
		return 0, keyError(k, v, "must be an integer")
	}
	if n < lo {
		return 0, keyError(k, v, fmt.Sprintf("must be >= %d", lo))
	}
	if n > hi {
		return 0, keyError(k, v, fmt.Sprintf("must be <= %d", hi))
	}
	return n, nil
}

func setInt64(dst func(*Config) *int64, lo, hi int64) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		n, err := parseInt(k, v, lo, hi)
		if err != nil {
			return err
		}
		*dst(c) = n
		return nil
	}
}

func setInt32(dst func(*Config) *int32, lo, hi int32) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		n, err := parseInt(k, v, int64(lo), int64(hi))
		if err != nil {
			return err
		}
		*dst(c) = int32(n)
		return nil
	}
}

func setBool(dst func(*Config) *bool) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			*dst(c) = true
		case "false":
			*dst(c) = false
		default:
			return keyError(k, v, "must be true or false")
		}
		return nil
	}
}

func setNonEmpty(dst func(*Config) *string) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		if strings.TrimSpace(v) == "" {
			return keyError(k, v, "must not be empty")
		}
		*dst(c) = strings.TrimSpace(v)
		return nil
	}
}

// setName is a Pulsar tenant or namespace name.
func setName(dst func(*Config) *string) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		v = strings.TrimSpace(v)
		if v == "" {
			return keyError(k, v, "must not be empty")
		}
		for _, r := range v {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.=:", r)) {
				return keyError(k, v, "may hold only letters, digits and -_.=:")
			}
		}
		*dst(c) = v
		return nil
	}
}

func setEnum(dst func(*Config) *string, allowed ...string) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		t := strings.ToLower(strings.TrimSpace(v))
		for _, a := range allowed {
			if t == a {
				*dst(c) = a
				return nil
			}
		}
		return keyError(k, v, "must be one of "+strings.Join(allowed, ", "))
	}
}

// setURL accepts an empty value or a URL with one of schemes and one or
// more comma-separated hosts, as Pulsar's service URLs allow
// (pulsar://h1:6650,h2:6650).
func setURL(dst func(*Config) *string, schemes ...string) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		v = strings.TrimSpace(v)
		if v == "" {
			*dst(c) = ""
			return nil
		}
		want := "must be a URL " + strings.Join(schemes, "://host:port or ") + "://host:port"
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			return keyError(k, v, want)
		}
		ok := false
		for _, s := range schemes {
			ok = ok || u.Scheme == s
		}
		if !ok {
			return keyError(k, v, want)
		}
		for _, h := range strings.Split(u.Host, ",") {
			if h == "" {
				return keyError(k, v, want+", with no empty host")
			}
			if strings.Contains(h, ":") && !strings.HasSuffix(h, "]") {
				if _, _, err := splitHostPort(h, false); err != nil {
					return keyError(k, v, fmt.Sprintf("host %s: %v", h, err))
				}
			}
		}
		*dst(c) = v
		return nil
	}
}

func setHostPort(dst func(*Config) *string, allowEmpty bool) func(c *Config, k, v string) error {
	return func(c *Config, k, v string) error {
		v = strings.TrimSpace(v)
		if v == "" && allowEmpty {
			*dst(c) = ""
			return nil
		}
		if _, _, err := splitHostPort(v, true); err != nil {
			return keyError(k, v, "must be host:port: "+err.Error())
		}
		*dst(c) = v
		return nil
	}
}

const maxInt32 = math.MaxInt32

// keys are every configuration key KOP reads, in the order `kop help`
// and Entries show them. The table is read-only.
var keys = []key{
	{name: "kafkaListeners", late: true,
		doc:        "Kafka listeners to bind, comma-separated NAME://host:port; NAME is a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) or a name mapped in kafkaProtocolMap.",
		standalone: "PLAINTEXT://127.0.0.1:9092", broker: "PLAINTEXT://0.0.0.0:9092",
		set: func(c *Config, k, v string) (err error) {
			c.KafkaListeners, err = parseListeners(k, v, c.KafkaProtocolMap)
			return
		}},
	{name: "kafkaAdvertisedListeners", same: true, late: true,
		doc: "Addresses given to clients, same names and order as kafkaListeners; empty: the listeners, with 0.0.0.0 replaced by the host name.",
		set: func(c *Config, k, v string) (err error) {
			c.KafkaAdvertisedListeners = nil
			if strings.TrimSpace(v) != "" {
				c.KafkaAdvertisedListeners, err = parseListeners(k, v, c.KafkaProtocolMap)
			}
			return
		}},
	both("interBrokerListenerName", "", "Listener the other brokers connect to (transaction markers), PLAINTEXT or SSL (with kopSslKeystoreLocation's certificate as client certificate); empty: the first of kafkaListeners (Kafka's inter.broker.listener.name).",
		func(c *Config, k, v string) error {
			c.InterBrokerListenerName = strings.ToUpper(strings.TrimSpace(v))
			return nil
		}),
	both("kafkaProtocolMap", "", "Security protocol of each listener name that is not itself a protocol, comma-separated NAME:PROTOCOL (INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT).",
		func(c *Config, k, v string) (err error) { c.KafkaProtocolMap, err = parseProtocolMap(k, v); return }),
	both("kafkaServicePort", "", "Legacy shorthand: the port of the PLAINTEXT listener when kafkaListeners is not set.",
		func(c *Config, k, v string) error {
			if strings.TrimSpace(v) == "" {
				return nil
			}
			_, err := parseInt(k, v, 0, 65535)
			return err
		}),
	{name: "dataDir", doc: "Directory of the Raft metadata and the embedded log.", standalone: "data/standalone", broker: "data/kop",
		set: setNonEmpty(func(c *Config) *string { return &c.DataDir })},
	{name: "raftNodeId", standalone: "0", broker: "",
		doc: "This broker's id, >= 0: its Raft server id and its Kafka broker id (required for kafka-broker).",
		set: func(c *Config, k, v string) error {
			if strings.TrimSpace(v) == "" && c.Mode == KafkaBroker {
				return keyError(k, v, "must be set for kafka-broker: each broker of the cluster has its own id, listed in raftPeers")
			}
			n, err := parseInt(k, v, 0, maxInt32)
			c.RaftNodeID = int32(n)
			return err
		}},
	{name: "raftBindAddress", doc: "host:port of the Raft transport.", standalone: "127.0.0.1:9192", broker: "0.0.0.0:9192",
		set: setHostPort(func(c *Config) *string { return &c.RaftBindAddress }, false)},
	both("raftAdvertisedAddress", "", "host:port other brokers reach the Raft transport on; empty: raftBindAddress, with 0.0.0.0 replaced by the host name.",
		setHostPort(func(c *Config) *string { return &c.RaftAdvertisedAddress }, true)),
	both("raftSecurityProtocol", "PLAINTEXT", "PLAINTEXT or SSL: with SSL the Raft port (Raft and forwarded metadata writes) speaks TLS only, every broker presents kopSslKeystoreLocation's certificate and must present one chaining to kopSslTruststoreLocation.",
		func(c *Config, k, v string) error {
			v = strings.ToUpper(strings.TrimSpace(v))
			if v != "PLAINTEXT" && v != "SSL" {
				return keyError(k, v, "must be PLAINTEXT or SSL")
			}
			c.RaftSecurityProtocol = v
			return nil
		}),
	both("raftPeers", "", "Raft voters of the cluster, comma-separated id@host:port, this broker included (kafka-broker only; ignored by standalone).",
		func(c *Config, k, v string) (err error) {
			if c.Mode != KafkaBroker {
				return nil
			}
			c.RaftPeers, err = parsePeers(k, v)
			return
		}),
	both("httpAddress", "127.0.0.1:9080", "host:port of the admin endpoint (/metrics, /healthz, /readyz); empty disables it.",
		setHostPort(func(c *Config) *string { return &c.HTTPAddress }, true)),
	both("allowAutoTopicCreation", "true", "Create a topic when a client asks for its metadata (as Kafka: a produce to a missing topic fails).",
		setBool(func(c *Config) *bool { return &c.AllowAutoTopicCreation })),
	both("defaultNumPartitions", "1", "Partitions of an auto-created topic.",
		setInt32(func(c *Config) *int32 { return &c.DefaultNumPartitions }, 1, 100_000)),
	both("logLevel", "info", "Log level: debug, info, warn or error.",
		func(c *Config, k, v string) error {
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "debug":
				c.LogLevel = slog.LevelDebug
			case "info":
				c.LogLevel = slog.LevelInfo
			case "warn", "warning":
				c.LogLevel = slog.LevelWarn
			case "error":
				c.LogLevel = slog.LevelError
			default:
				return keyError(k, v, "must be debug, info, warn or error")
			}
			return nil
		}),
	both("brokerServiceUrl", "", "Pulsar broker URL (pulsar://host:6650 or pulsar+ssl://host:6651); set: data lives in Pulsar; empty: the embedded log (standalone only).",
		setURL(func(c *Config) *string { return &c.BrokerServiceURL }, "pulsar", "pulsar+ssl")),
	both("webServiceUrl", "", "Pulsar admin URL (http://host:8080), for topic administration.",
		setURL(func(c *Config) *string { return &c.WebServiceURL }, "http", "https")),
	both("brokerClientAuthenticationPlugin", "", "How KOP authenticates to Pulsar, as in Pulsar's broker.conf: org.apache.pulsar.client.impl.auth.AuthenticationToken (or token), …TLS (tls), …oauth2.AuthenticationOAuth2 (oauth2); empty: none.",
		func(c *Config, k, v string) error {
			c.BrokerClientAuthenticationPlugin = strings.TrimSpace(v)
			return nil
		}),
	{name: "brokerClientAuthenticationParameters", same: true, sensitive: true, doc: "Parameters of brokerClientAuthenticationPlugin, as Pulsar takes them: token:<JWT> or file:///path for tokens, JSON for oauth2, tlsCertFile:…,tlsKeyFile:… for TLS.",
		set: func(c *Config, k, v string) error {
			c.BrokerClientAuthenticationParameters = strings.TrimSpace(v)
			return nil
		}},
	both("brokerClientTrustCertsFilePath", "", "PEM CA certificates KOP trusts for pulsar+ssl:// and https:// Pulsar URLs (empty: the system's).",
		func(c *Config, k, v string) error {
			c.BrokerClientTrustCertsFilePath = strings.TrimSpace(v)
			return nil
		}),
	both("kafkaTenant", "public", "Pulsar tenant of Kafka topics.", setName(func(c *Config) *string { return &c.KafkaTenant })),
	both("kafkaNamespace", "default", "Pulsar namespace of Kafka topics, inside kafkaTenant.", setName(func(c *Config) *string { return &c.KafkaNamespace })),
	both("entryFormat", "kafka", "How Kafka batches are stored in Pulsar: kafka (one message per batch) or pulsar (one per record, readable by Pulsar consumers).",
		setEnum(func(c *Config) *string { return &c.EntryFormat }, "kafka", "pulsar")),
	both("socketRequestMaxBytes", "104857600", "Largest Kafka request accepted; a larger frame closes the connection.",
		setInt32(func(c *Config) *int32 { return &c.SocketRequestMaxBytes }, 1024, maxInt32)),
	both("queuedMaxRequestBytes", "536870912", "Bytes of requests being read or waiting to be answered, over all connections (Kafka's queued.max.request.bytes); when they are spent, sockets are not read until some are answered. At least socketRequestMaxBytes.",
		setInt64(func(c *Config) *int64 { return &c.QueuedMaxRequestBytes }, 1<<20, math.MaxInt64)),
	both("maxDecompressedBatchBytes", "67108864", "A produced compressed batch whose records inflate to more than this is refused (MESSAGE_TOO_LARGE), checked as it inflates: a compression bomb costs nothing.",
		setInt64(func(c *Config) *int64 { return &c.MaxDecompressedBatchBytes }, 1<<20, 1<<31-1)),
	both("requestReadTimeoutMs", "60000", "Close a connection whose request, once its size arrived, is not all received within this long (a slow or stalled sender).",
		setInt64(func(c *Config) *int64 { return &c.RequestReadTimeoutMs }, 100, math.MaxInt64)),
	both("maxConnections", "10000", "Most client connections open at once; more are closed as they arrive (Kafka's max.connections).",
		setInt32(func(c *Config) *int32 { return &c.MaxConnections }, 1, maxInt32)),
	both("maxConnectionsPerIp", "10000", "Most client connections open at once from one address (Kafka's max.connections.per.ip).",
		setInt32(func(c *Config) *int32 { return &c.MaxConnectionsPerIp }, 1, maxInt32)),
	both("connectionsMaxIdleMs", "600000", "Close client connections idle this long.",
		setInt64(func(c *Config) *int64 { return &c.ConnectionsMaxIdleMs }, 1000, math.MaxInt64)),
	both("messageMaxBytes", "1048588", "Default max.message.bytes of topics: the largest record batch accepted.",
		setInt32(func(c *Config) *int32 { return &c.MessageMaxBytes }, 0, maxInt32)),
	both("logSegmentBytes", "1073741824", "Default segment.bytes of the embedded log.",
		setInt64(func(c *Config) *int64 { return &c.LogSegmentBytes }, 1024, maxInt32)),
	both("logRetentionMs", "604800000", "Default retention.ms of topics; -1 keeps data forever.",
		setInt64(func(c *Config) *int64 { return &c.LogRetentionMs }, -1, math.MaxInt64)),
	both("logRetentionBytes", "-1", "Default retention.bytes per partition; -1 is unlimited.",
		setInt64(func(c *Config) *int64 { return &c.LogRetentionBytes }, -1, math.MaxInt64)),
	both("logFlushIntervalMessages", "1", "Default flush.messages of the embedded log: fsync after this many records (1: before every acknowledgement).",
		setInt64(func(c *Config) *int64 { return &c.LogFlushIntervalMessages }, 1, math.MaxInt64)),
	both("logFlushIntervalMs", "1000", "Default flush.ms of the embedded log: fsync at least this often.",
		setInt64(func(c *Config) *int64 { return &c.LogFlushIntervalMs }, 0, math.MaxInt64)),
	both("logRetentionCheckIntervalMs", "300000", "How often the embedded log applies retention.",
		setInt64(func(c *Config) *int64 { return &c.LogRetentionCheckIntervalMs }, 10, math.MaxInt64)),
	both("logCleanerBackoffMs", "15000", "How often the cleaner looks for compacted partitions due for cleaning (embedded log and Pulsar).",
		setInt64(func(c *Config) *int64 { return &c.LogCleanerBackoffMs }, 10, math.MaxInt64)),
	both("logCleanerDedupeBufferSize", "134217728", "Memory for the cleaner's offset map (24 bytes a key): a compacted partition with more distinct keys in its dirty part is cleaned in several passes.",
		setInt64(func(c *Config) *int64 { return &c.LogCleanerDedupeBufferSize }, 1<<20, math.MaxInt64)),
	both("requestTimeoutMs", "30000", "Upper bound on metadata (Raft) and Pulsar operations made for one request.",
		setInt64(func(c *Config) *int64 { return &c.RequestTimeoutMs }, 100, math.MaxInt64)),
	both("shutdownTimeoutMs", "30000", "How long a graceful shutdown waits for requests in flight.",
		setInt64(func(c *Config) *int64 { return &c.ShutdownTimeoutMs }, 0, math.MaxInt64)),
	both("brokerSessionTimeoutMs", "3000", "A broker the Raft leader cannot reach for this long loses the leadership of its partitions to the brokers it can reach (cluster only). A broker stops taking produce requests by itself after two thirds of it without contact with the Raft leader.",
		setInt32(func(c *Config) *int32 { return &c.BrokerSessionTimeoutMs }, 1500, maxInt32)),
	both("autoLeaderRebalanceEnable", "true", "Give partitions back to their preferred leader (spread over all registered brokers) once it has been reachable for brokerSessionTimeoutMs, as after a restart (cluster only; Kafka's auto.leader.rebalance.enable).",
		setBool(func(c *Config) *bool { return &c.AutoLeaderRebalanceEnable })),
	both("groupInitialRebalanceDelayMs", "3000", "Wait for more members before the first rebalance of an empty group.",
		setInt32(func(c *Config) *int32 { return &c.GroupInitialRebalanceDelayMs }, 0, maxInt32)),
	both("groupMinSessionTimeoutMs", "6000", "Smallest session timeout a group member may ask for.",
		setInt32(func(c *Config) *int32 { return &c.GroupMinSessionTimeoutMs }, 0, maxInt32)),
	both("groupMaxSessionTimeoutMs", "1800000", "Largest session timeout a group member may ask for.",
		setInt32(func(c *Config) *int32 { return &c.GroupMaxSessionTimeoutMs }, 0, maxInt32)),
	both("groupMaxSize", "2147483647", "Most members in one consumer group.",
		setInt32(func(c *Config) *int32 { return &c.GroupMaxSize }, 1, maxInt32)),
	both("offsetsRetentionMinutes", "10080", "Committed offsets of an empty group are kept this long.",
		setInt64(func(c *Config) *int64 { return &c.OffsetsRetentionMinutes }, 1, math.MaxInt64/60000)),
	both("kopSslKeystoreType", "PEM", "Format of kopSslKeystoreLocation; PEM is the one supported (convert a JKS or PKCS12 keystore with openssl).",
		func(c *Config, k, v string) error {
			if strings.ToUpper(strings.TrimSpace(v)) != "PEM" {
				return keyError(k, v, "only PEM is supported")
			}
			return nil
		}),
	both("kopSslKeystoreLocation", "", "PEM file with the certificate chain of SSL and SASL_SSL listeners, and its private key unless kopSslKeyLocation is set; re-read when it changes.",
		func(c *Config, k, v string) error { c.KopSslKeystoreLocation = strings.TrimSpace(v); return nil }),
	both("kopSslKeyLocation", "", "PEM file with the private key of kopSslKeystoreLocation's certificate, when it is not in the same file.",
		func(c *Config, k, v string) error { c.KopSslKeyLocation = strings.TrimSpace(v); return nil }),
	both("kopSslTruststoreLocation", "", "PEM file with the CA certificates client certificates must chain to (mutual TLS).",
		func(c *Config, k, v string) error { c.KopSslTruststoreLocation = strings.TrimSpace(v); return nil }),
	both("kopSslClientAuth", "none", "Client certificates on SSL and SASL_SSL listeners: none, requested or required (Kafka's ssl.client.auth). A verified certificate's subject is the principal on SSL listeners.",
		setEnum(func(c *Config) *string { return &c.KopSslClientAuth }, "none", "requested", "required")),
	both("kopSslEnabledProtocols", "TLSv1.2,TLSv1.3", "TLS versions served, comma-separated (TLSv1.2, TLSv1.3).",
		func(c *Config, k, v string) error {
			c.KopSslMinVersion = 0
			for _, p := range strings.Split(v, ",") {
				var ver uint16
				switch strings.TrimSpace(p) {
				case "TLSv1.2":
					ver = 0x0303
				case "TLSv1.3":
					ver = 0x0304
				case "":
					continue
				default:
					return keyError(k, v, "each protocol must be TLSv1.2 or TLSv1.3")
				}
				if c.KopSslMinVersion == 0 || ver < c.KopSslMinVersion {
					c.KopSslMinVersion = ver
				}
			}
			if c.KopSslMinVersion == 0 {
				return keyError(k, v, "must name at least one protocol")
			}
			return nil
		}),
	both("saslAllowedMechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512", "SASL mechanisms of SASL_PLAINTEXT and SASL_SSL listeners, comma-separated: PLAIN (a Pulsar token when tokenSecretKey or tokenPublicKey is set, else a SCRAM user's password), SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER (JWTs checked against saslOauthbearerJwksFile).",
		func(c *Config, k, v string) error {
			c.SaslAllowedMechanisms = nil
			for _, m := range strings.Split(v, ",") {
				m = strings.ToUpper(strings.TrimSpace(m))
				switch m {
				case "":
					continue
				case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER":
				default:
					return keyError(k, v, fmt.Sprintf("mechanism %q is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)", m))
				}
				c.SaslAllowedMechanisms = append(c.SaslAllowedMechanisms, m)
			}
			if len(c.SaslAllowedMechanisms) == 0 {
				return keyError(k, v, "must name at least one mechanism")
			}
			return nil
		}),
	both("saslOauthbearerJwksFile", "", "JSON Web Key Set file of the identity provider whose JWTs OAUTHBEARER accepts (re-read when it changes); needed when saslAllowedMechanisms has OAUTHBEARER.",
		func(c *Config, k, v string) error { c.SaslOauthbearerJwksFile = strings.TrimSpace(v); return nil }),
	both("saslOauthbearerExpectedIssuer", "", "When set, OAUTHBEARER tokens must have this iss.",
		func(c *Config, k, v string) error { c.SaslOauthbearerExpectedIssuer = strings.TrimSpace(v); return nil }),
	both("saslOauthbearerExpectedAudience", "", "When set, OAUTHBEARER tokens must name this audience in aud.",
		func(c *Config, k, v string) error {
			c.SaslOauthbearerExpectedAudience = strings.TrimSpace(v)
			return nil
		}),
	both("saslOauthbearerSubClaimName", "sub", "Claim of OAUTHBEARER tokens naming the principal.",
		setNonEmpty(func(c *Config) *string { return &c.SaslOauthbearerSubClaimName })),
	{name: "tokenSecretKey", same: true, sensitive: true, doc: "Pulsar's key for tokens signed with a secret (data:;base64,<key>, file:///path, or base64): SASL PLAIN passwords are then Pulsar tokens.",
		set: func(c *Config, k, v string) error { c.TokenSecretKey = strings.TrimSpace(v); return nil }},
	both("tokenPublicKey", "", "Pulsar's public key for tokens signed with a private key (data:;base64,<DER>, file:///path, or base64; DER or PEM).",
		func(c *Config, k, v string) error { c.TokenPublicKey = strings.TrimSpace(v); return nil }),
	both("tokenPublicAlg", "RS256", "Signature algorithm of tokens checked with tokenPublicKey (RS256…512, ES256…512, PS256…512).",
		setNonEmpty(func(c *Config) *string { return &c.TokenPublicAlg })),
	both("tokenAuthClaim", "sub", "Token claim naming the role (the principal).",
		setNonEmpty(func(c *Config) *string { return &c.TokenAuthClaim })),
	both("tokenAudienceClaim", "", "When set, a token's claim of this name must hold tokenAudience.",
		func(c *Config, k, v string) error { c.TokenAudienceClaim = strings.TrimSpace(v); return nil }),
	both("tokenAudience", "", "The audience tokens must name in tokenAudienceClaim.",
		func(c *Config, k, v string) error { c.TokenAudience = strings.TrimSpace(v); return nil }),
	both("connectionsMaxReauthMs", "0", "Longest SASL session (Kafka's connections.max.reauth.ms, KIP-368): a client must authenticate again within it or its connection is closed; a token's expiry ends the session too. 0: no limit but the token's.",
		setInt64(func(c *Config) *int64 { return &c.ConnectionsMaxReauthMs }, 0, math.MaxInt64)),
	both("connectionFailedAuthenticationDelayMs", "100", "Delay before answering a failed authentication and closing the connection (Kafka's connection.failed.authentication.delay.ms).",
		setInt64(func(c *Config) *int64 { return &c.ConnectionFailedAuthenticationDelayMs }, 0, 60000)),
	both("authorizationEnabled", "false", "Enforce Kafka ACLs (CreateAcls, …) on every request; off, every client may do everything.",
		setBool(func(c *Config) *bool { return &c.AuthorizationEnabled })),
	both("superUserRoles", "", "Principals that may do everything: user names (a SCRAM user, a token's role, a certificate's subject as CN=…,O=…) or User:<name>, separated by ';' (Kafka's super.users) or ','; with ',' the parts of a distinguished name stay together.",
		func(c *Config, k, v string) error { c.SuperUserRoles = parseSuperUsers(v); return nil }),
	both("allowEveryoneIfNoAclFound", "false", "With authorizationEnabled, let every principal act on a resource no ACL names (Kafka's allow.everyone.if.no.acl.found).",
		setBool(func(c *Config) *bool { return &c.AllowEveryoneIfNoAclFound })),
	both("kafkaEnableMultiTenantMetadata", "true", "A client that logs in with a Pulsar token works in the namespace its user name names (tenant: tenant/kafkaNamespace; or tenant/namespace): its topics are Pulsar topics there, and its topics, groups and transactional ids are apart from every other namespace's. Off, every client shares kafkaTenant/kafkaNamespace.",
		setBool(func(c *Config) *bool { return &c.KafkaEnableMultiTenantMetadata })),
	both("kopAuthorizationCacheRefreshMs", "30000", "With authorizationEnabled and Pulsar storage, how long Pulsar's permissions (namespace and topic grants, tenant admin roles) are cached for token logins: a grant or revocation in Pulsar takes effect within it.",
		setInt64(func(c *Config) *int64 { return &c.KopAuthorizationCacheRefreshMs }, 1, math.MaxInt64)),
	both("transactionMaxTimeoutMs", "900000", "Largest transaction.timeout.ms a transactional producer may ask for (Kafka's transaction.max.timeout.ms).",
		setInt32(func(c *Config) *int32 { return &c.TransactionMaxTimeoutMs }, 1, maxInt32)),
	both("transactionalIdExpirationMs", "604800000", "A transactional id with no open transaction is forgotten after this long without use (Kafka's transactional.id.expiration.ms).",
		setInt64(func(c *Config) *int64 { return &c.TransactionalIdExpirationMs }, 1, math.MaxInt64)),
	both("transactionAbortTimedOutTransactionCleanupIntervalMs", "10000", "How often transactions open longer than their timeout are aborted (their producer fenced), and ended ones whose markers were not all written are finished.",
		setInt32(func(c *Config) *int32 { return &c.TransactionAbortTimedOutTransactionCleanupIntervalMs }, 1, maxInt32)),
}

func lookupKey(name string) (key, bool) {
	for _, k := range keys {
		if k.name == name {
			return k, true
		}
	}
	return key{}, false
}

// parseSuperUsers splits superUserRoles. ';' separates entries as in
// Kafka's super.users; without one, ',' does (Pulsar's superUserRoles),
// except that a part holding '=' right after one that holds '=' continues
// a distinguished name (CN=kop-broker,O=Acme is one subject). Entries
// without a principal type get User:.
func parseSuperUsers(v string) []string {
	var entries []string
	if strings.Contains(v, ";") {
		entries = strings.Split(v, ";")
	} else {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if n := len(entries); n > 0 && strings.Contains(part, "=") && strings.Contains(entries[n-1], "=") {
				entries[n-1] += "," + part
				continue
			}
			entries = append(entries, part)
		}
	}
	var out []string
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.HasPrefix(e, "User:") {
			e = "User:" + e
		}
		out = append(out, e)
	}
	return out
}
