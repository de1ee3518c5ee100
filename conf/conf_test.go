package conf

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
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

func TestParseProperties(t *testing.T) {
	got, err := parseProperties([]byte(`
# comment
! also a comment
   key1 = value one  
key2:value2
key3=a=b
key4=
long=first \
     second
key2=override
`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"key1": "value one", "key2": "override", "key3": "a=b", "key4": "", "long": "first second"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{"novalue\n", "=value\n", " : x\n"} {
		if _, err := parseProperties([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Fatalf("%q: err %v, want a line-numbered error", bad, err)
		}
	}
}

func TestDefaultsPerMode(t *testing.T) {
	c, err := Load(Standalone, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.KafkaListeners[0].String(); got != "PLAINTEXT://127.0.0.1:9092" {
		t.Fatalf("standalone listener %s", got)
	}
	if c.KafkaAdvertisedListeners[0].Addr() != "127.0.0.1:9092" || !c.AllowAutoTopicCreation || c.DefaultNumPartitions != 1 {
		t.Fatalf("standalone defaults: %+v", c)
	}
	if c.SocketRequestMaxBytes != 100<<20 || c.LogFlushIntervalMessages != 1 || c.Source("dataDir") != SourceDefault {
		t.Fatalf("defaults: %+v", c)
	}
	_, err = Load(KafkaBroker, nil, nil, nil)
	if err == nil || !strings.Contains(err.Error(), `"raftNodeId"`) {
		t.Fatalf("kafka-broker without raftNodeId: %v", err)
	}
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, "defaultNumPartitions=2\ndataDir=/from/file\nlogLevel=debug\nhttpAddress=127.0.0.1:1\n")
	env := []string{"KOP_DATADIR=/from/env", "KOP_LOG_LEVEL=warn", "PATH=/bin"}
	c, err := Load(Standalone, []string{"--config", path, "--logLevel=error"}, env, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultNumPartitions != 2 || c.Source("defaultNumPartitions") != SourceFile {
		t.Fatalf("file value: %d from %s", c.DefaultNumPartitions, c.Source("defaultNumPartitions"))
	}
	if c.DataDir != "/from/env" || c.Source("dataDir") != SourceEnv {
		t.Fatalf("env over file: %s from %s", c.DataDir, c.Source("dataDir"))
	}
	if c.LogLevel != slog.LevelError || c.Source("logLevel") != SourceFlag {
		t.Fatalf("flag over env: %v from %s", c.LogLevel, c.Source("logLevel"))
	}
	if c.HTTPAddress != "127.0.0.1:1" {
		t.Fatalf("httpAddress %q", c.HTTPAddress)
	}
	var found bool
	for _, e := range c.Entries() {
		if e.Name == "dataDir" {
			found = e.Value == "/from/env" && e.Source == SourceEnv && e.Default == "data/standalone"
		}
	}
	if !found {
		t.Fatal("Entries does not report dataDir's value, source and default")
	}
}

func TestEnvNameForms(t *testing.T) {
	for _, name := range []string{"KOP_KAFKALISTENERS", "KOP_kafkaListeners", "KOP_KAFKA_LISTENERS"} {
		c, err := Load(Standalone, nil, []string{name + "=PLAINTEXT://127.0.0.1:19092"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.KafkaListeners[0].Port != 19092 {
			t.Fatalf("%s did not set kafkaListeners", name)
		}
	}
}

func TestUnknownKeysWarn(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	path := writeFile(t, "messagingProtocols=kafka\nclusterName=standalone\nkafkaTransactionCoordinatorEnabled=true\nlog.dirs=/x\ndefaultNumPartitions=4\n")
	c, err := Load(Standalone, []string{"--config=" + path}, []string{"KOP_NOT_A_KEY=1"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultNumPartitions != 4 {
		t.Fatal("known key next to unknown ones was not read")
	}
	for _, k := range []string{"messagingProtocols", "clusterName", "kafkaTransactionCoordinatorEnabled", "log.dirs", "KOP_NOT_A_KEY"} {
		if !strings.Contains(logs.String(), k) {
			t.Fatalf("no warning naming %s in:\n%s", k, logs.String())
		}
	}
}

func TestBadValuesNameTheKey(t *testing.T) {
	cases := []struct{ arg, key, why string }{
		{"--defaultNumPartitions=0", "defaultNumPartitions", "between"},
		{"--defaultNumPartitions=x", "defaultNumPartitions", "integer"},
		{"--allowAutoTopicCreation=maybe", "allowAutoTopicCreation", "true or false"},
		{"--logLevel=loud", "logLevel", "debug"},
		{"--kafkaListeners=127.0.0.1:9092", "kafkaListeners", "NAME://host:port"},
		{"--kafkaListeners=SSL://127.0.0.1:9092", "kafkaListeners", "PLAINTEXT"},
		{"--kafkaListeners=PLAINTEXT://127.0.0.1:99999", "kafkaListeners", "port"},
		{"--brokerServiceUrl=http://x:6650", "brokerServiceUrl", "pulsar"},
		{"--entryFormat=avro", "entryFormat", "kafka, pulsar"},
		{"--raftBindAddress=nohost", "raftBindAddress", "host:port"},
		{"--socketRequestMaxBytes=-5", "socketRequestMaxBytes", "between"},
		{"--groupMinSessionTimeoutMs=90000000", "groupMinSessionTimeoutMs", "groupMaxSessionTimeoutMs"},
		{"--kafkaAdvertisedListeners=OTHER://h:1", "kafkaAdvertisedListeners", "PLAINTEXT"},
		{"--dataDir=", "dataDir", "empty"},
	}
	for _, tc := range cases {
		_, err := Load(Standalone, []string{tc.arg}, nil, nil)
		if err == nil {
			t.Fatalf("%s: accepted", tc.arg)
		}
		if !strings.Contains(err.Error(), `"`+tc.key+`"`) || !strings.Contains(err.Error(), tc.why) {
			t.Fatalf("%s: error %q does not name %s and %q", tc.arg, err, tc.key, tc.why)
		}
	}
	if _, err := Load(Standalone, []string{"--noSuchFlag=1"}, nil, nil); err == nil || !strings.Contains(err.Error(), "noSuchFlag") {
		t.Fatalf("unknown flag: %v", err)
	}
	if _, err := Load(Standalone, []string{"--config=/does/not/exist"}, nil, nil); err == nil || !strings.Contains(err.Error(), "/does/not/exist") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestKafkaServicePortShorthand(t *testing.T) {
	c, err := Load(Standalone, []string{"--kafkaServicePort=19093"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.KafkaListeners[0].String(); got != "PLAINTEXT://127.0.0.1:19093" {
		t.Fatalf("listener %s", got)
	}
	// An explicit kafkaListeners wins over the shorthand.
	c, err = Load(Standalone, []string{"--kafkaServicePort=19093", "--kafkaListeners=PLAINTEXT://127.0.0.1:19094"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.KafkaListeners[0].Port != 19094 {
		t.Fatalf("listener %s", c.KafkaListeners[0])
	}
	if _, err := Load(Standalone, []string{"--kafkaServicePort=abc"}, nil, nil); err == nil || !strings.Contains(err.Error(), `"kafkaServicePort"`) {
		t.Fatalf("bad shorthand: %v", err)
	}
}

func TestKafkaBrokerCluster(t *testing.T) {
	args := []string{"--raftNodeId=2", "--raftPeers=1@h1:9192,2@h2:9192,3@h3:9192", "--brokerServiceUrl=pulsar://p:6650"}
	c, err := Load(KafkaBroker, args, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.RaftPeers) != 3 || c.RaftPeers[1] != (Peer{ID: 2, Address: "h2:9192"}) {
		t.Fatalf("peers %v", c.RaftPeers)
	}
	if c.KafkaAdvertisedListeners[0].Host == "0.0.0.0" {
		t.Fatal("wildcard host advertised")
	}
	_, err = Load(KafkaBroker, []string{"--raftNodeId=4", "--raftPeers=1@h1:9192"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), `"raftPeers"`) {
		t.Fatalf("self missing from peers: %v", err)
	}
	_, err = Load(KafkaBroker, []string{"--raftNodeId=1", "--raftPeers=1@h1:9192,1@h2:9192"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate peer: %v", err)
	}
}

// The shipped files load, and document every key.
func TestShippedFiles(t *testing.T) {
	for _, f := range []struct {
		path string
		mode Mode
	}{{"kop_standalone.conf", Standalone}, {"kop.conf", KafkaBroker}} {
		var logs bytes.Buffer
		if _, err := Load(f.mode, []string{"--config", f.path}, nil, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatalf("%s: %v", f.path, err)
		}
		if logs.Len() > 0 {
			t.Fatalf("%s logged warnings:\n%s", f.path, logs.String())
		}
		body, _ := os.ReadFile(f.path)
		for _, k := range keys {
			if !strings.Contains(string(body), k.name+"=") {
				t.Fatalf("%s does not mention %s", f.path, k.name)
			}
		}
	}
}

func FuzzParseProperties(f *testing.F) {
	f.Add([]byte("a=b\n# c\nd: e \\\n f\n"))
	f.Add([]byte("\\\n\\\\\n=\n:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kv, err := parseProperties(b)
		if err != nil {
			return
		}
		for k := range kv {
			if k == "" || strings.TrimSpace(k) != k {
				t.Fatalf("bad key %q", k)
			}
		}
	})
}
