package conf

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
)

// Mode is how the broker runs.
type Mode int

// The two modes of the kop binary.
const (
	Standalone  Mode = iota // kop standalone: one Raft voter, embedded log unless brokerServiceUrl
	KafkaBroker             // kop kafka-broker: a member of a Raft cluster, Pulsar storage
)

func (m Mode) String() string {
	if m == KafkaBroker {
		return "kafka-broker"
	}
	return "standalone"
}

// Kafka security protocols a listener can use.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

func knownProtocol(p string) bool {
	return p == ProtocolPlaintext || p == ProtocolSSL || p == ProtocolSASLPlaintext || p == ProtocolSASLSSL
}

// UsesTLS and UsesSASL say what a listener's security protocol asks of
// its clients.
func (l Listener) UsesTLS() bool {
	return l.SecurityProtocol == ProtocolSSL || l.SecurityProtocol == ProtocolSASLSSL
}
func (l Listener) UsesSASL() bool {
	return l.SecurityProtocol == ProtocolSASLPlaintext || l.SecurityProtocol == ProtocolSASLSSL
}

// Listener is one Kafka listener, `NAME://host:port`.
type Listener struct {
	Name             string // upper case, unique among the listeners
	SecurityProtocol string // PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL
	Host             string // empty or 0.0.0.0 binds every interface
	Port             int    // 0 picks a free port (tests)
}

// Addr is host:port.
func (l Listener) Addr() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

func (l Listener) String() string { return l.Name + "://" + l.Addr() }

// Peer is one Raft voter, `id@host:port`.
type Peer struct {
	ID      int32
	Address string
}

func (p Peer) String() string { return strconv.Itoa(int(p.ID)) + "@" + p.Address }

// Config is the validated configuration of one broker. Durations keep the
// Kafka-style millisecond (or minute) units of their keys.
type Config struct {
	Mode Mode

	KafkaListeners           []Listener
	KafkaAdvertisedListeners []Listener        // same names and order as KafkaListeners; never a wildcard host
	KafkaProtocolMap         map[string]string // listener name → security protocol, as given (may be empty)
	DataDir                  string

	RaftNodeID            int32
	RaftBindAddress       string
	RaftAdvertisedAddress string // never a wildcard host
	RaftPeers             []Peer // kafka-broker only; nil in standalone

	HTTPAddress string // empty: no admin endpoint

	AllowAutoTopicCreation bool
	DefaultNumPartitions   int32
	LogLevel               slog.Level

	BrokerServiceURL string // empty: the embedded log
	WebServiceURL    string
	// How KOP authenticates to Pulsar (Pulsar's broker.conf names).
	BrokerClientAuthenticationPlugin     string
	BrokerClientAuthenticationParameters string
	BrokerClientTrustCertsFilePath       string
	KafkaTenant                          string
	KafkaNamespace                       string
	EntryFormat                          string // "kafka" or "pulsar"

	SocketRequestMaxBytes       int32
	ConnectionsMaxIdleMs        int64
	MessageMaxBytes             int32
	LogSegmentBytes             int64
	LogRetentionMs              int64 // -1: forever
	LogRetentionBytes           int64 // -1: unlimited
	LogFlushIntervalMessages    int64
	LogFlushIntervalMs          int64
	LogRetentionCheckIntervalMs int64
	LogCleanerBackoffMs         int64
	MaxConnections              int32
	RequestReadTimeoutMs        int64
	MaxDecompressedBatchBytes   int64
	QueuedMaxRequestBytes       int64
	MaxConnectionsPerIp         int32
	LogCleanerDedupeBufferSize  int64
	RequestTimeoutMs            int64
	ShutdownTimeoutMs           int64

	GroupInitialRebalanceDelayMs int32
	BrokerSessionTimeoutMs       int32
	AutoLeaderRebalanceEnable    bool
	GroupMinSessionTimeoutMs     int32
	GroupMaxSessionTimeoutMs     int32
	GroupMaxSize                 int32
	OffsetsRetentionMinutes      int64

	TransactionMaxTimeoutMs                              int32
	TransactionalIdExpirationMs                          int64
	TransactionAbortTimedOutTransactionCleanupIntervalMs int32

	// RaftSecurityProtocol is PLAINTEXT or SSL (the Raft port).
	RaftSecurityProtocol string
	// InterBrokerListenerName is the listener brokers reach each other on.
	InterBrokerListenerName string
	// TLS of SSL and SASL_SSL listeners (PEM files).
	KopSslKeystoreLocation   string
	KopSslKeyLocation        string
	KopSslTruststoreLocation string
	KopSslClientAuth         string // none, requested, required
	KopSslMinVersion         uint16 // tls.VersionTLS12 or 13
	// SASL.
	SaslAllowedMechanisms                 []string
	TokenSecretKey                        string
	TokenPublicKey                        string
	TokenPublicAlg                        string
	TokenAuthClaim                        string
	TokenAudienceClaim                    string
	TokenAudience                         string
	ConnectionsMaxReauthMs                int64
	ConnectionFailedAuthenticationDelayMs int64
	SaslOauthbearerJwksFile               string
	SaslOauthbearerExpectedIssuer         string
	SaslOauthbearerExpectedAudience       string
	SaslOauthbearerSubClaimName           string
	// Authorization.
	AuthorizationEnabled      bool
	SuperUserRoles            []string // principals, User:name
	AllowEveryoneIfNoAclFound bool
	// Tenancy.
	KafkaEnableMultiTenantMetadata bool
	KopAuthorizationCacheRefreshMs int64

	// Sources says where each known key's value came from.
	Sources map[string]Source

	values map[string]string // effective value of each key, derived ones filled in
}

// Source says where a setting's value came from.
type Source string

// Sources, in precedence order.
const (
	SourceDefault Source = "default"
	SourceFile    Source = "file"
	SourceEnv     Source = "env"
	SourceFlag    Source = "flag"
)

// Entry is one key's effective setting.
type Entry struct {
	Name      string
	Value     string // effective value; derived values (advertised addresses) filled in
	Default   string // the built-in default in this mode
	Source    Source
	Sensitive bool // a secret: never show Value to clients or in logs
	Doc       string
}

// Entries lists every known key with its effective value and source, in
// definition order. DescribeConfigs of the broker resource and `kop MODE
// --help` are built from it.
func (c *Config) Entries() []Entry {
	out := make([]Entry, 0, len(keys))
	for _, k := range keys {
		out = append(out, Entry{
			Name: k.name, Value: c.values[k.name], Default: k.defaultFor(c.Mode),
			Source: c.Sources[k.name], Sensitive: k.sensitive, Doc: k.doc,
		})
	}
	return out
}

// Source returns where key's value came from; "" for an unknown key.
func (c *Config) Source(key string) Source { return c.Sources[key] }

// KeyDoc is one key as `kop help MODE` prints it.
type KeyDoc struct {
	Name, Default, Doc string
}

// Keys documents every key with its default in mode.
func Keys(mode Mode) []KeyDoc {
	out := make([]KeyDoc, 0, len(keys))
	for _, k := range keys {
		out = append(out, KeyDoc{Name: k.name, Default: k.defaultFor(mode), Doc: k.doc})
	}
	return out
}

// KeyError is a refused value: it names the key, the reason and, once Load
// knows it, where the value was set.
type KeyError struct {
	Key    string
	Value  string
	Reason string
	Origin string // e.g. `file conf/kop.conf`, `environment KOP_DATA_DIR`, `flag --dataDir`; empty for defaults
}

func (e *KeyError) Error() string {
	s := fmt.Sprintf("config key %q: %s", e.Key, e.Reason)
	if e.Value != "" {
		s += fmt.Sprintf(", got %q", e.Value)
	}
	if e.Origin != "" {
		s += " (set by " + e.Origin + ")"
	}
	return s
}

// keyError names the key and why its value is refused.
func keyError(key, value, why string) error {
	return &KeyError{Key: key, Value: value, Reason: why}
}

// parseProtocolMap parses kafkaProtocolMap, `NAME:PROTOCOL,…`.
func parseProtocolMap(key, v string) (map[string]string, error) {
	out := map[string]string{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, proto, ok := strings.Cut(part, ":")
		name, proto = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(proto))
		if !ok || name == "" || proto == "" {
			return nil, keyError(key, v, "each entry must be NAME:PROTOCOL")
		}
		if !validListenerName(name) {
			return nil, keyError(key, v, fmt.Sprintf("listener name %q may hold only letters, digits and _", name))
		}
		if !knownProtocol(proto) {
			return nil, keyError(key, v, fmt.Sprintf("listener %s: security protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", name))
		}
		if _, dup := out[name]; dup {
			return nil, keyError(key, v, fmt.Sprintf("listener name %s appears twice", name))
		}
		out[name] = proto
	}
	return out, nil
}

func validListenerName(s string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return s != ""
}

// parseListeners parses comma-separated NAME://host:port. A name is its
// own security protocol (PLAINTEXT, SASL_PLAINTEXT) unless protocols maps
// it, as Kafka's listener.security.protocol.map and KoP's kafkaProtocolMap
// do (INTERNAL:PLAINTEXT,EXTERNAL:PLAINTEXT).
func parseListeners(key, v string, protocols map[string]string) ([]Listener, error) {
	var out []Listener
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, addr, ok := strings.Cut(part, "://")
		if !ok || name == "" {
			return nil, keyError(key, v, fmt.Sprintf("listener %q must be NAME://host:port", part))
		}
		name = strings.ToUpper(name)
		if !validListenerName(name) {
			return nil, keyError(key, v, fmt.Sprintf("listener name %q may hold only letters, digits and _", name))
		}
		proto, mapped := protocols[name]
		if !mapped {
			proto = name
		}
		if !knownProtocol(proto) {
			return nil, keyError(key, v, fmt.Sprintf("listener %s: unknown security protocol; use PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, or map the name in kafkaProtocolMap (e.g. %s:SASL_SSL)", name, name))
		}
		host, port, err := splitHostPort(addr, true)
		if err != nil {
			return nil, keyError(key, v, fmt.Sprintf("listener %s: %v", name, err))
		}
		for _, l := range out {
			if l.Name == name {
				return nil, keyError(key, v, fmt.Sprintf("listener name %s appears twice", name))
			}
		}
		out = append(out, Listener{Name: name, SecurityProtocol: proto, Host: host, Port: port})
	}
	if len(out) == 0 {
		return nil, keyError(key, v, "at least one listener is required")
	}
	return out, nil
}

func parsePeers(key, v string) ([]Peer, error) {
	var out []Peer
	seen := map[int32]bool{}
	for _, part := range strings.Split(v, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, addr, ok := strings.Cut(part, "@")
		if !ok {
			return nil, keyError(key, v, fmt.Sprintf("peer %q must be id@host:port", part))
		}
		n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 32)
		if err != nil || n < 0 {
			return nil, keyError(key, v, fmt.Sprintf("peer id %q must be an integer >= 0", id))
		}
		addr = strings.TrimSpace(addr)
		host, _, err := splitHostPort(addr, false)
		if err != nil {
			return nil, keyError(key, v, fmt.Sprintf("peer %d: %v", n, err))
		}
		if isWildcard(host) {
			return nil, keyError(key, v, fmt.Sprintf("peer %d: %q is not an address other brokers can reach", n, addr))
		}
		if seen[int32(n)] {
			return nil, keyError(key, v, fmt.Sprintf("peer id %d appears twice", n))
		}
		seen[int32(n)] = true
		out = append(out, Peer{ID: int32(n), Address: addr})
	}
	return out, nil
}

// splitHostPort checks host:port and returns the numeric port; port 0
// (pick a free one) is accepted only when allowZero.
func splitHostPort(v string, allowZero bool) (string, int, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not host:port", v)
	}
	p, err := strconv.Atoi(port)
	lo := 1
	if allowZero {
		lo = 0
	}
	if err != nil || p < lo || p > 65535 {
		return "", 0, fmt.Errorf("port %q must be %d..65535", port, lo)
	}
	return host, p, nil
}

// isWildcard reports whether host binds every interface.
func isWildcard(host string) bool {
	return host == "" || host == "0.0.0.0" || host == "::"
}
