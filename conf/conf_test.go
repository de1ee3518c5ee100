package conf

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kop.conf")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// capture returns a logger writing to a buffer.
func capture() (*slog.Logger, *bytes.Buffer) {
	var b bytes.Buffer
	return slog.New(slog.NewTextHandler(&b, nil)), &b
}

// broker is the minimal valid kafka-broker command line.
var broker = []string{"--raftNodeId=2", "--raftPeers=1@h1:9192,2@h2:9192,3@h3:9192", "--brokerServiceUrl=pulsar://p:6650", "--webServiceUrl=http://p:8080"}

func mustLoad(t *testing.T, mode Mode, args, env []string) *Config {
	t.Helper()
	c, err := Load(mode, args, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDefaultsPerMode(t *testing.T) {
	t.Chdir(t.TempDir()) // no conf/ here: built-in defaults only
	c := mustLoad(t, Standalone, nil, nil)
	if got := c.KafkaListeners[0].String(); got != "PLAINTEXT://127.0.0.1:9092" {
		t.Fatalf("standalone listener %s", got)
	}
	if c.KafkaAdvertisedListeners[0].Addr() != "127.0.0.1:9092" || c.RaftAdvertisedAddress != "127.0.0.1:9192" {
		t.Fatalf("advertised %v %s", c.KafkaAdvertisedListeners, c.RaftAdvertisedAddress)
	}
	if !c.AllowAutoTopicCreation || c.DefaultNumPartitions != 1 || c.DataDir != "data/standalone" || c.EntryFormat != "kafka" ||
		c.SocketRequestMaxBytes != 100<<20 || c.MessageMaxBytes != 1048588 || c.LogFlushIntervalMessages != 1 ||
		c.LogRetentionBytes != -1 || c.GroupMaxSize != 1<<31-1 || c.OffsetsRetentionMinutes != 10080 ||
		c.HTTPAddress != "127.0.0.1:9080" || c.LogLevel != slog.LevelInfo || c.RaftPeers != nil {
		t.Fatalf("standalone defaults: %+v", c)
	}
	for _, e := range c.Entries() {
		if e.Source != SourceDefault {
			t.Fatalf("%s from %s", e.Name, e.Source)
		}
		if e.Name == "kafkaAdvertisedListeners" && e.Value != "PLAINTEXT://127.0.0.1:9092" {
			t.Fatalf("derived value not reported: %+v", e)
		}
	}

	c = mustLoad(t, KafkaBroker, broker, nil)
	if c.KafkaListeners[0].Host != "0.0.0.0" || c.DataDir != "data/kop" || c.RaftBindAddress != "0.0.0.0:9192" {
		t.Fatalf("kafka-broker defaults: %+v", c)
	}
	host, _ := os.Hostname()
	if h := c.KafkaAdvertisedListeners[0].Host; h == "0.0.0.0" || (host != "" && h != host) {
		t.Fatalf("advertised host %q, want the host name %q", h, host)
	}
	// The other voters dial this broker at its raftPeers entry.
	if c.RaftAdvertisedAddress != "h2:9192" {
		t.Fatalf("raftAdvertisedAddress %q", c.RaftAdvertisedAddress)
	}
	if ks := Keys(KafkaBroker); ks[0].Default != "PLAINTEXT://0.0.0.0:9092" {
		t.Fatalf("Keys: %+v", ks[0])
	}
}

func TestDefaultFileFromWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("conf", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("conf/kop_standalone.conf", []byte("defaultNumPartitions=3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := mustLoad(t, Standalone, nil, nil)
	if c.DefaultNumPartitions != 3 || c.Sources["defaultNumPartitions"] != SourceFile {
		t.Fatalf("default file not read: %d", c.DefaultNumPartitions)
	}
	// --config replaces the default file.
	c = mustLoad(t, Standalone, []string{"--config", writeFile(t, "dataDir=x\n")}, nil)
	if c.DefaultNumPartitions != 1 || c.DataDir != "x" {
		t.Fatalf("--config: %d %s", c.DefaultNumPartitions, c.DataDir)
	}
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, "defaultNumPartitions=2\ndataDir=/from/file\nlogLevel=debug\nentryFormat=pulsar\n")
	env := []string{"KOP_DATADIR=/from/env", "KOP_LOG_LEVEL=warn", "KOP_ENTRY_FORMAT=pulsar", "PATH=/bin", "KOPX=1"}
	c := mustLoad(t, Standalone, []string{"--config", path, "--logLevel=error", "--entryFormat", "kafka"}, env)
	for _, tc := range []struct {
		key  string
		ok   bool
		from Source
	}{
		{"defaultNumPartitions", c.DefaultNumPartitions == 2, SourceFile},
		{"dataDir", c.DataDir == "/from/env", SourceEnv},
		{"logLevel", c.LogLevel == slog.LevelError, SourceFlag},
		{"entryFormat", c.EntryFormat == "kafka", SourceFlag},
		{"kafkaTenant", c.KafkaTenant == "public", SourceDefault},
	} {
		if !tc.ok || c.Source(tc.key) != tc.from || c.Sources[tc.key] != tc.from {
			t.Fatalf("%s: value wrong or source %s, want %s", tc.key, c.Source(tc.key), tc.from)
		}
	}
	var found bool
	for _, e := range c.Entries() {
		if e.Name == "dataDir" {
			found = e.Value == "/from/env" && e.Source == SourceEnv && e.Default == "data/standalone" && e.Doc != ""
		}
	}
	if !found {
		t.Fatal("Entries does not report dataDir's value, source, default and doc")
	}
}

func TestEnvNameForms(t *testing.T) {
	for _, name := range []string{"KOP_KAFKALISTENERS", "KOP_kafkaListeners", "KOP_KAFKA_LISTENERS", "KOP_kafka_listeners"} {
		c := mustLoad(t, Standalone, nil, []string{name + "=PLAINTEXT://127.0.0.1:19092"})
		if c.KafkaListeners[0].Port != 19092 || c.Source("kafkaListeners") != SourceEnv {
			t.Fatalf("%s did not set kafkaListeners", name)
		}
	}
	// An empty variable is a setting too: it clears an optional key.
	c := mustLoad(t, Standalone, nil, []string{"KOP_HTTP_ADDRESS="})
	if c.HTTPAddress != "" {
		t.Fatalf("httpAddress %q", c.HTTPAddress)
	}
	logger, logs := capture()
	c, err := Load(Standalone, nil, []string{"KOP_DATA_DIR=a", "KOP_DATADIR=b", "KOP_NOT_A_KEY=1"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "b" || !strings.Contains(logs.String(), "KOP_DATA_DIR") || !strings.Contains(logs.String(), "KOP_NOT_A_KEY") {
		t.Fatalf("dataDir %q; logs:\n%s", c.DataDir, logs)
	}
}

func TestUnknownKeysWarn(t *testing.T) {
	logger, logs := capture()
	// Lines from Pulsar's standalone.conf and KoP's kop.conf.
	path := writeFile(t, `messagingProtocols=kafka
protocolHandlerDirectory=./protocols
clusterName=standalone
kafkaTransactionCoordinatorEnabled=true
log.dirs=/x
kafkalisteners=PLAINTEXT://127.0.0.1:1
defaultNumPartitions=4
`)
	c, err := Load(Standalone, []string{"--config=" + path}, nil, logger)
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultNumPartitions != 4 || c.KafkaListeners[0].Port != 9092 {
		t.Fatal("known keys next to unknown ones were not read as such")
	}
	for _, k := range []string{"messagingProtocols", "clusterName", "kafkaTransactionCoordinatorEnabled", "log.dirs", "didYouMean=kafkaListeners"} {
		if !strings.Contains(logs.String(), k) {
			t.Fatalf("no warning naming %s in:\n%s", k, logs)
		}
	}
	if !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("not a warning:\n%s", logs)
	}
}

func TestBadValuesNameTheKey(t *testing.T) {
	cases := []struct{ arg, key, why string }{
		{"--defaultNumPartitions=0", "defaultNumPartitions", `must be >= 1, got "0"`},
		{"--defaultNumPartitions=x", "defaultNumPartitions", "integer"},
		{"--defaultNumPartitions=99999999999999999999", "defaultNumPartitions", "between"},
		{"--allowAutoTopicCreation=maybe", "allowAutoTopicCreation", "true or false"},
		{"--logLevel=loud", "logLevel", "debug"},
		{"--logLevel=info+2", "logLevel", "debug"},
		{"--kafkaListeners=127.0.0.1:9092", "kafkaListeners", "NAME://host:port"},
		{"--kafkaListeners=TLS://127.0.0.1:9092", "kafkaListeners", "kafkaProtocolMap"},
		{"--kafkaListeners=SSL://127.0.0.1:9092", "kopSslKeystoreLocation", "SSL listener"},
		{"--kafkaListeners=SASL_SSL://127.0.0.1:9092", "kopSslKeystoreLocation", "SASL_SSL listener"},
		{"--kopSslClientAuth=required", "kopSslTruststoreLocation", "client certificates"},
		{"--kopSslClientAuth=always", "kopSslClientAuth", "none"},
		{"--raftSecurityProtocol=SSL", "kopSslKeystoreLocation", "raftSecurityProtocol is SSL"},
		{"--raftSecurityProtocol=SASL_SSL", "raftSecurityProtocol", "PLAINTEXT or SSL"},
		{"--kopSslKeystoreType=JKS", "kopSslKeystoreType", "PEM"},
		{"--kopSslEnabledProtocols=SSLv3", "kopSslEnabledProtocols", "TLSv1.2"},
		{"--saslAllowedMechanisms=GSSAPI", "saslAllowedMechanisms", "not supported"},
		{"--saslAllowedMechanisms=", "saslAllowedMechanisms", "at least one"},
		{"--connectionFailedAuthenticationDelayMs=-1", "connectionFailedAuthenticationDelayMs", ">= 0"},
		{"--kafkaListeners=PLAINTEXT://127.0.0.1:99999", "kafkaListeners", "port"},
		{"--kafkaListeners=PLAINTEXT://127.0.0.1", "kafkaListeners", "host:port"},
		{"--kafkaListeners=", "kafkaListeners", "at least one"},
		{"--kafkaProtocolMap=A:TLS", "kafkaProtocolMap", "PLAINTEXT"},
		{"--kafkaAdvertisedListeners=OTHER://h:1", "kafkaAdvertisedListeners", "kafkaProtocolMap"},
		{"--kafkaAdvertisedListeners=PLAINTEXT://0.0.0.0:9092", "kafkaAdvertisedListeners", "clients can connect to"},
		{"--brokerServiceUrl=http://x:6650", "brokerServiceUrl", "pulsar://"},
		{"--brokerServiceUrl=pulsar://x:66a", "brokerServiceUrl", "port"},
		{"--webServiceUrl=ftp://x", "webServiceUrl", "http://"},
		{"--entryFormat=avro", "entryFormat", "kafka, pulsar"},
		{"--brokerServiceUrl=pulsar://x:6650", "webServiceUrl", "must be set with brokerServiceUrl"},
		{"--kafkaTenant=a/b", "kafkaTenant", "letters"},
		{"--raftBindAddress=nohost", "raftBindAddress", "host:port"},
		{"--raftAdvertisedAddress=0.0.0.0:9192", "raftAdvertisedAddress", "reach"},
		{"--raftNodeId=-1", "raftNodeId", ">= 0"},
		{"--httpAddress=127.0.0.1:9092", "httpAddress", "kafkaListeners"},
		{"--raftBindAddress=0.0.0.0:9092", "raftBindAddress", "port 9092"},
		{"--socketRequestMaxBytes=-5", "socketRequestMaxBytes", ">= 1024"},
		{"--queuedMaxRequestBytes=2097152", "queuedMaxRequestBytes", "at least socketRequestMaxBytes"},
		{"--maxDecompressedBatchBytes=5", "maxDecompressedBatchBytes", ">= 1048576"},
		{"--logRetentionMs=-2", "logRetentionMs", ">= -1"},
		{"--groupMinSessionTimeoutMs=90000000", "groupMinSessionTimeoutMs", "groupMaxSessionTimeoutMs"},
		{"--dataDir=", "dataDir", "empty"},
		{"--kafkaServicePort=abc", "kafkaServicePort", "integer"},
	}
	for _, tc := range cases {
		_, err := Load(Standalone, []string{tc.arg}, nil, nil)
		if err == nil {
			t.Fatalf("%s: accepted", tc.arg)
		}
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != tc.key || !strings.Contains(err.Error(), `config key "`+tc.key+`"`) || !strings.Contains(err.Error(), tc.why) {
			t.Fatalf("%s: error %q does not name %s and %q", tc.arg, err, tc.key, tc.why)
		}
	}
	// The error says where the bad value was set.
	for _, tc := range []struct {
		args, env []string
		origin    string
	}{
		{[]string{"--config", writeFile(t, "defaultNumPartitions=0\n")}, nil, "file "},
		{nil, []string{"KOP_DEFAULT_NUM_PARTITIONS=0"}, "environment KOP_DEFAULT_NUM_PARTITIONS"},
		{[]string{"--defaultNumPartitions=0"}, nil, "flag --defaultNumPartitions"},
	} {
		_, err := Load(Standalone, tc.args, tc.env, nil)
		if err == nil || !strings.Contains(err.Error(), "(set by "+tc.origin) {
			t.Fatalf("%v %v: %v does not name %q", tc.args, tc.env, err, tc.origin)
		}
	}
	// Every refused value is reported at once.
	_, err := Load(Standalone, []string{"--defaultNumPartitions=0", "--logLevel=x"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "defaultNumPartitions") || !strings.Contains(err.Error(), "logLevel") {
		t.Fatalf("two bad values: %v", err)
	}
	for _, tc := range []struct{ arg, want string }{
		{"--noSuchFlag=1", "noSuchFlag"}, {"--config=/does/not/exist", "/does/not/exist"}, {"stray", "stray"},
	} {
		if _, err := Load(Standalone, []string{tc.arg}, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v", tc.arg, err)
		}
	}
	if _, err := Load(Standalone, []string{"--config", writeFile(t, "ok=1\n=broken\n")}, nil, nil); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("malformed file: %v", err)
	}
}

func TestKafkaServicePortShorthand(t *testing.T) {
	c := mustLoad(t, Standalone, []string{"--kafkaServicePort=19093"}, nil)
	if got := c.KafkaListeners[0].String(); got != "PLAINTEXT://127.0.0.1:19093" {
		t.Fatalf("listener %s", got)
	}
	c = mustLoad(t, KafkaBroker, append([]string{"--kafkaServicePort=19093"}, broker...), nil)
	if got := c.KafkaListeners[0].String(); got != "PLAINTEXT://0.0.0.0:19093" {
		t.Fatalf("kafka-broker listener %s", got)
	}
	// An explicit kafkaListeners wins over the shorthand, from any source.
	c = mustLoad(t, Standalone, []string{"--config", writeFile(t, "kafkaListeners=PLAINTEXT://127.0.0.1:19094\n"), "--kafkaServicePort=19093"}, nil)
	if c.KafkaListeners[0].Port != 19094 {
		t.Fatalf("listener %s", c.KafkaListeners[0])
	}
}

func TestListeners(t *testing.T) {
	c := mustLoad(t, Standalone, []string{
		"--kafkaListeners=internal://127.0.0.1:9092, EXTERNAL://0.0.0.0:9093,PLAINTEXT://[::1]:9094",
		"--kafkaProtocolMap=INTERNAL:PLAINTEXT,external:plaintext",
		"--kafkaAdvertisedListeners=INTERNAL://10.0.0.1:9092,EXTERNAL://kop.example.com:19093,PLAINTEXT://[::1]:9094",
	}, nil)
	want := []Listener{
		{"INTERNAL", ProtocolPlaintext, "127.0.0.1", 9092},
		{"EXTERNAL", ProtocolPlaintext, "0.0.0.0", 9093},
		{"PLAINTEXT", ProtocolPlaintext, "::1", 9094},
	}
	for i, l := range want {
		if c.KafkaListeners[i] != l {
			t.Fatalf("listener %d: %+v, want %+v", i, c.KafkaListeners[i], l)
		}
	}
	if c.KafkaAdvertisedListeners[1].Addr() != "kop.example.com:19093" || c.KafkaAdvertisedListeners[2].String() != "PLAINTEXT://[::1]:9094" {
		t.Fatalf("advertised %v", c.KafkaAdvertisedListeners)
	}
	for _, tc := range []struct{ args, why string }{
		{"--kafkaListeners=PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093", "appears twice"},
		{"--kafkaListeners=A://127.0.0.1:9092,B://127.0.0.1:9092 --kafkaProtocolMap=A:PLAINTEXT,B:PLAINTEXT", "port 9092"},
		{"--kafkaListeners=A://127.0.0.1:9092,B://127.0.0.1:9093 --kafkaProtocolMap=A:PLAINTEXT,B:PLAINTEXT --kafkaAdvertisedListeners=B://h:1,A://h:2", "same order"},
		{"--kafkaListeners=A://127.0.0.1:9092,B://127.0.0.1:9093 --kafkaProtocolMap=A:PLAINTEXT,B:PLAINTEXT --kafkaAdvertisedListeners=A://h:1", "same listeners"},
		{"--kafkaListeners=A-B://h:1", "letters"},
	} {
		_, err := Load(Standalone, strings.Fields(tc.args), nil, nil)
		if err == nil || !strings.Contains(err.Error(), tc.why) {
			t.Fatalf("%s: %v, want %q", tc.args, err, tc.why)
		}
	}
	// Port 0 (tests pick a free port) is allowed to bind, and on several listeners.
	mustLoad(t, Standalone, []string{"--kafkaListeners=PLAINTEXT://127.0.0.1:0", "--raftBindAddress=127.0.0.1:0", "--httpAddress=127.0.0.1:0"}, nil)
}

func TestKafkaBrokerRequiredKeys(t *testing.T) {
	c := mustLoad(t, KafkaBroker, broker, nil)
	if len(c.RaftPeers) != 3 || c.RaftPeers[1] != (Peer{ID: 2, Address: "h2:9192"}) || c.RaftNodeID != 2 {
		t.Fatalf("peers %v", c.RaftPeers)
	}
	without := func(key string) []string {
		var out []string
		for _, a := range broker {
			if !strings.HasPrefix(a, "--"+key+"=") {
				out = append(out, a)
			}
		}
		return out
	}
	for _, tc := range []struct {
		args     []string
		key, why string
	}{
		{without("raftNodeId"), "raftNodeId", "must be set for kafka-broker"},
		{without("raftPeers"), "raftPeers", "must list"},
		{without("brokerServiceUrl"), "brokerServiceUrl", "must be set for kafka-broker"},
		{without("webServiceUrl"), "webServiceUrl", "must be set with brokerServiceUrl"},
		{append(without("raftNodeId"), "--raftNodeId=4"), "raftPeers", "must include this broker (raftNodeId 4)"},
		{append(without("raftPeers"), "--raftPeers=2@h1:9192,2@h2:9192"), "raftPeers", "twice"},
		{append(without("raftPeers"), "--raftPeers=1@h:9192,2@h:9192"), "raftPeers", "share address"},
		{append(without("raftPeers"), "--raftPeers=2@0.0.0.0:9192"), "raftPeers", "reach"},
		{append(without("raftPeers"), "--raftPeers=2@h:x"), "raftPeers", "port"},
		{append(without("raftPeers"), "--raftPeers=two@h:1"), "raftPeers", "integer"},
		{append(broker, "--raftAdvertisedAddress=h9:9192"), "raftAdvertisedAddress", "2@h2:9192"},
	} {
		_, err := Load(KafkaBroker, tc.args, nil, nil)
		var ke *KeyError
		if !errors.As(err, &ke) || ke.Key != tc.key || !strings.Contains(err.Error(), tc.why) {
			t.Fatalf("%v: %v, want key %s and %q", tc.args, err, tc.key, tc.why)
		}
	}
	// Standalone ignores raftPeers, with a warning.
	logger, logs := capture()
	c, err := Load(Standalone, []string{"--raftPeers=1@h:1"}, nil, logger)
	if err != nil || c.RaftPeers != nil || !strings.Contains(logs.String(), "raftPeers") {
		t.Fatalf("standalone raftPeers: %v %v\n%s", err, c, logs)
	}
}

// The shipped files load without warnings and document every key; so do
// the three-node example of deploy/cluster.
func TestShippedFiles(t *testing.T) {
	for _, f := range []struct {
		path string
		mode Mode
	}{{"kop_standalone.conf", Standalone}, {"kop.conf", KafkaBroker}} {
		logger, logs := capture()
		if _, err := Load(f.mode, []string{"--config", f.path}, nil, logger); err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		if logs.Len() > 0 {
			t.Fatalf("%s logged warnings:\n%s", f.path, logs)
		}
		body, _ := os.ReadFile(f.path)
		for _, k := range keys {
			if !strings.Contains(string(body), "\n"+k.name+"=") && !strings.Contains(string(body), "\n#"+k.name+"=") {
				t.Fatalf("%s does not document %s", f.path, k.name)
			}
		}
	}
	ports := map[string]bool{}
	for id := 1; id <= 3; id++ {
		path := filepath.Join("..", "deploy", "cluster", fmt.Sprintf("kop-%d.conf", id))
		logger, logs := capture()
		c, err := Load(KafkaBroker, []string{"--config", path}, nil, logger)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if logs.Len() > 0 {
			t.Fatalf("%s logged warnings:\n%s", path, logs)
		}
		if c.RaftNodeID != int32(id) || len(c.RaftPeers) != 3 {
			t.Fatalf("%s: node %d, peers %v", path, c.RaftNodeID, c.RaftPeers)
		}
		for _, a := range []string{c.KafkaListeners[0].Addr(), c.RaftBindAddress, c.HTTPAddress, c.DataDir} {
			if ports[a] {
				t.Fatalf("%s: %s is shared with another broker of the example", path, a)
			}
			ports[a] = true
		}
	}
}

// TestOAuthBearerNeedsKeySet: OAUTHBEARER on a SASL listener without a
// JWKS file refuses to start, naming the key.
func TestOAuthBearerNeedsKeySet(t *testing.T) {
	_, err := Load(Standalone, []string{"--kafkaListeners=SASL_PLAINTEXT://127.0.0.1:9092", "--saslAllowedMechanisms=SCRAM-SHA-256,OAUTHBEARER"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "saslOauthbearerJwksFile") {
		t.Fatalf("err = %v, want one naming saslOauthbearerJwksFile", err)
	}
	if _, err := Load(Standalone, []string{"--saslAllowedMechanisms=OAUTHBEARER"}, nil, nil); err != nil {
		t.Fatalf("OAUTHBEARER without a SASL listener: %v", err)
	}
}

// TestSecureClusterExample: the secured three-node example of
// deploy/cluster-secure loads, with SASL_SSL for clients, SSL between the
// brokers and ACLs on.
func TestSecureClusterExample(t *testing.T) {
	for id := 1; id <= 3; id++ {
		path := filepath.Join("..", "deploy", "cluster-secure", fmt.Sprintf("kop-%d.conf", id))
		logger, logs := capture()
		c, err := Load(KafkaBroker, []string{"--config", path}, nil, logger)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if logs.Len() > 0 {
			t.Fatalf("%s logged warnings:\n%s", path, logs)
		}
		if len(c.KafkaListeners) != 2 || !c.KafkaListeners[0].UsesSASL() || !c.KafkaListeners[0].UsesTLS() ||
			c.InterBrokerListenerName != "INTERNAL" || !c.AuthorizationEnabled || c.RaftNodeID != int32(id) || c.RaftSecurityProtocol != "SSL" {
			t.Fatalf("%s: %+v", path, c)
		}
	}
}

// TestSuperUsers: ';' or ',' separated, distinguished names kept whole.
func TestSuperUsers(t *testing.T) {
	for in, want := range map[string][]string{
		"admin,CN=kop-broker,O=Acme,User:ops": {"User:admin", "User:CN=kop-broker,O=Acme", "User:ops"},
		"CN=a,O=x;CN=b,O=y":                   {"User:CN=a,O=x", "User:CN=b,O=y"},
		" admin ; ANONYMOUS ":                 {"User:admin", "User:ANONYMOUS"},
		"":                                    nil,
	} {
		if got := parseSuperUsers(in); !reflect.DeepEqual(got, want) {
			t.Errorf("parseSuperUsers(%q) = %q, want %q", in, got, want)
		}
	}
}
