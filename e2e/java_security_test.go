package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runJavaDemo runs bin/java-<name>-demo.sh with kafka-clients version and
// returns its stdout, its stderr and how it ended, failing nothing itself.
// The script and its JVM run in their own process group, sent SIGTERM when
// the five-minute deadline passes (a script given --security does not exec
// the JVM: it waits for it to remove its trust store afterwards).
func runJavaDemo(t *testing.T, version, name string, args ...string) (string, string, error) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(filepath.Dir(file)), "bin", "java-"+name+"-demo.sh")
	cmd := exec.CommandContext(testCtx(t, 5*time.Minute), script, args...)
	cmd.Env = append(os.Environ(), "KAFKA_CLIENTS_VERSION="+version)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// TestJavaSecurity runs the Java producer, consumer and admin demos of
// kafka-clients 2.0.0 over SASL_SSL with SCRAM-SHA-256 (and the producer
// with PLAIN), their --security option turning the test CA's PEM into a
// PKCS12 trust store with keytool; what they report is checked against
// the broker through the PLAINTEXT listener. A wrong password makes the
// producer and the consumer fail with an authentication error, and
// nothing is written.
func TestJavaSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const version = "2.0.0"
	sb := startSecure(t, map[string]string{"groupInitialRebalanceDelayMs": "0"})
	addScramUser(t, sb.broker, "java", "java-secret")
	adm := newAdmin(t, sb.addr)
	const topic = "java-secure"
	if _, err := adm.CreateTopic(testCtx(t, time.Minute), 1, 1, nil, topic); err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
	scram := "SASL_SSL:SCRAM-SHA-256:java:java-secret:" + sb.caFile
	demo := func(name string, args ...string) string {
		t.Helper()
		out, stderr, err := runJavaDemo(t, version, name, args...)
		if err != nil {
			t.Fatalf("%s demo over SASL_SSL (kafka-clients %s): %v\n%s\n%s", name, version, err, tail([]byte(out)), tail([]byte(stderr)))
		}
		return out
	}

	out := demo("producer", "--bootstrap", sb.saslSSL, "--topic", topic, "--count", "100", "--idempotent", "--security", scram)
	if !strings.Contains(out, "producer done: 100 acknowledged, 0 failed") {
		t.Fatalf("idempotent producer over SASL_SSL/SCRAM-SHA-256:\n%s", tail([]byte(out)))
	}
	out = demo("producer", "--bootstrap", sb.saslSSL, "--topic", topic, "--count", "10", "sync", "--security", scram)
	if !strings.Contains(out, "producer done: 10 acknowledged, 0 failed") || !strings.Contains(out, "at offset 109") {
		t.Fatalf("sync producer over SASL_SSL/SCRAM-SHA-256:\n%s", tail([]byte(out)))
	}
	// PLAIN checks the same password against the stored SCRAM credential.
	out = demo("producer", "--bootstrap", sb.saslSSL, "--topic", topic, "--count", "5", "sync",
		"--security", "SASL_SSL:PLAIN:java:java-secret:"+sb.caFile)
	if !strings.Contains(out, "producer done: 5 acknowledged, 0 failed") || !strings.Contains(out, "at offset 114") {
		t.Fatalf("sync producer over SASL_SSL/PLAIN:\n%s", tail([]byte(out)))
	}
	recs := readUntilEnd(t, sb.addr, topic)
	if len(recs) != 115 {
		t.Fatalf("topic holds %d records, want 115", len(recs))
	}
	checkDense(t, recs)
	for i, r := range recs {
		want := "message-" + itoa(i)
		if i >= 110 {
			want = "message-" + itoa(i-110)
		} else if i >= 100 {
			want = "message-" + itoa(i-100)
		}
		if string(r.Value) != want {
			t.Fatalf("record %d is %q, want %q", i, r.Value, want)
		}
	}

	const group = "java-secure-group"
	out = demo("consumer", "--bootstrap", sb.saslSSL, "--topic", topic, "--group", group, "--count", "115", "--security", scram)
	if !strings.Contains(out, "consumer done: 115 received") || !strings.Contains(out, "received key-4=message-4 from "+topic+"-0 at offset 114") {
		t.Fatalf("group consumer over SASL_SSL/SCRAM-SHA-256:\n%s", tail([]byte(out)))
	}
	if got := committedTotal(t, adm, group, topic); got != 115 {
		t.Fatalf("the consumer committed offset %d, want 115", got)
	}

	out = demo("admin", "--bootstrap", sb.saslSSL, "--topic", "java-secure-admin", "--partitions", "2", "--security", scram)
	for _, want := range []string{"controller " + sb.saslSSL, "topic java-secure-admin has 2 partitions", "retention.ms=3600000", "deleted topic", "admin done"} {
		if !strings.Contains(out, want) {
			t.Fatalf("admin demo over SASL_SSL/SCRAM-SHA-256 lacks %q:\n%s", want, out)
		}
	}

	// A wrong password: the demos fail, saying authentication failed, and
	// write nothing.
	before := endOffset(t, adm, topic)
	wrong := "SASL_SSL:SCRAM-SHA-256:java:not-the-password:" + sb.caFile
	for _, c := range []struct {
		name, want string
		args       []string
	}{
		{"producer", "producer done: 0 acknowledged, 1 failed", []string{"--count", "1"}},
		{"consumer", "", []string{"--count", "1", "--group", group + "-intruder", "--timeout-ms", "30000"}},
	} {
		args := append([]string{"--bootstrap", sb.saslSSL, "--topic", topic, "--security", wrong}, c.args...)
		start := time.Now()
		out, stderr, err := runJavaDemo(t, version, c.name, args...)
		if err == nil {
			t.Fatalf("%s demo with a wrong password succeeded:\n%s\n%s", c.name, tail([]byte(out)), tail([]byte(stderr)))
		}
		if !strings.Contains(strings.ToLower(out+stderr), "authentication") || !strings.Contains(stderr, "SaslAuthenticationException") {
			t.Fatalf("%s demo with a wrong password failed (%v) without an authentication error:\n%s\n%s", c.name, err, tail([]byte(out)), tail([]byte(stderr)))
		}
		if strings.Contains(out+stderr, "not-the-password") || strings.Contains(out+stderr, "java-secret") {
			t.Fatalf("%s demo output shows a password:\n%s\n%s", c.name, tail([]byte(out)), tail([]byte(stderr)))
		}
		if c.want != "" && !strings.Contains(out, c.want) {
			t.Fatalf("%s demo with a wrong password does not report %q:\n%s", c.name, c.want, tail([]byte(out)))
		}
		t.Logf("%s demo with a wrong password failed in %v: %v", c.name, time.Since(start).Round(time.Millisecond), err)
	}
	if after := endOffset(t, adm, topic); after != before {
		t.Fatalf("end offset moved from %d to %d: a client with a wrong password wrote", before, after)
	}
	if got := committedTotal(t, adm, group+"-intruder", topic); got != 0 {
		t.Fatalf("the refused consumer committed offset %d", got)
	}
}
