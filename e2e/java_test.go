package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// javaClientVersions are the kafka-clients releases the demos are built
// against: the 2.0.0 the seed promises, and a current 3.x.
var javaClientVersions = []string{"2.0.0", "3.9.1"}

// javaDemo runs bin/java-<name>-demo.sh (building examples/kafka-examples
// with Maven when needed) with kafka-clients version and returns stdout.
func javaDemo(t *testing.T, version, name string, args ...string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(filepath.Dir(file)), "bin", "java-"+name+"-demo.sh")
	ctx := testCtx(t, 5*time.Minute)
	cmd := exec.CommandContext(ctx, script, args...)
	cmd.Env = append(os.Environ(), "KAFKA_CLIENTS_VERSION="+version)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s demo (kafka-clients %s): %v\n%s\n%s", name, version, err, tail(out), stderr.String())
	}
	return string(out)
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// TestJavaClients runs the Java producer (plain, idempotent and
// synchronous), group consumer and AdminClient demos of kafka-clients 2.0.0
// and 3.9.1 against standalone and checks what they report against the
// broker.
func TestJavaClients(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, map[string]string{"groupInitialRebalanceDelayMs": "0"})
	for _, v := range javaClientVersions {
		t.Run(v, func(t *testing.T) {
			topic := "java-" + strings.ReplaceAll(v, ".", "-")
			out := javaDemo(t, v, "producer", "--bootstrap", b.addr, "--topic", topic, "--count", "500", "--idempotent")
			if !strings.Contains(out, "producer done: 500 acknowledged, 0 failed") {
				t.Fatalf("idempotent producer:\n%s", tail([]byte(out)))
			}
			out = javaDemo(t, v, "producer", "--bootstrap", b.addr, "--topic", topic, "--count", "20", "sync")
			if !strings.Contains(out, "producer done: 20 acknowledged, 0 failed") || !strings.Contains(out, "at offset 519") {
				t.Fatalf("sync producer:\n%s", tail([]byte(out)))
			}
			recs := readUntilEnd(t, b.addr, topic)
			if len(recs) != 520 {
				t.Fatalf("topic holds %d records, want 520", len(recs))
			}
			checkDense(t, recs)
			for i, r := range recs[:500] {
				if want := "message-" + itoa(i); string(r.Value) != want {
					t.Fatalf("record %d is %q, want %q", i, r.Value, want)
				}
			}
			// The group consumer reads everything, commits, and a second run
			// in the same group reads only what was produced since.
			group := "java-group-" + v
			out = javaDemo(t, v, "consumer", "--bootstrap", b.addr, "--topic", topic, "--group", group, "--count", "520")
			if !strings.Contains(out, "consumer done: 520 received") {
				t.Fatalf("group consumer:\n%s", tail([]byte(out)))
			}
			if got := committedTotal(t, newAdmin(t, b.addr), group, topic); got != 520 {
				t.Fatalf("the consumer committed offset %d, want 520", got)
			}
			javaDemo(t, v, "producer", "--bootstrap", b.addr, "--topic", topic, "--count", "7", "sync")
			out = javaDemo(t, v, "consumer", "--bootstrap", b.addr, "--topic", topic, "--group", group, "--count", "7")
			if !strings.Contains(out, "consumer done: 7 received") || !strings.Contains(out, "at offset 520") || strings.Contains(out, "at offset 519") {
				t.Fatalf("the second group consumer did not resume at the commit:\n%s", tail([]byte(out)))
			}
			out = javaDemo(t, v, "admin", "--bootstrap", b.addr, "--topic", "admin-"+topic, "--partitions", "3")
			for _, want := range []string{"topic admin-" + topic + " has 3 partitions", "retention.ms=3600000", "deleted topic", "admin done"} {
				if !strings.Contains(out, want) {
					t.Fatalf("admin demo output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
