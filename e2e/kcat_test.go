package e2e

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// kcat runs the kcat binary (Debian package kcat) with args and stdin.
func kcat(t testing.TB, stdin []byte, args ...string) []byte {
	t.Helper()
	path, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (make deps installs it): %v", err)
	}
	ctx := testCtx(t, 3*time.Minute)
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// TestKcatRoundTrip is the acceptance scenario: 20,000 keyed
// records into an auto-created 3-partition topic, read back, also after
// the broker restarts.
func TestKcatRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	b := startStandalone(t, map[string]string{"defaultNumPartitions": "3"})
	const n = 20000
	var in bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "key-%d:value-%d\n", i, i)
	}
	kcat(t, in.Bytes(), "-b", b.addr, "-P", "-t", "kcat-topic", "-K:", "-X", "acks=all", "-X", "enable.idempotence=true")

	check := func() {
		t.Helper()
		out := kcat(t, nil, "-b", b.addr, "-C", "-t", "kcat-topic", "-o", "beginning", "-e", "-q", "-f", "%p %o %k %s\n")
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != n {
			t.Fatalf("read %d records, want %d", len(lines), n)
		}
		seen := make(map[string]bool, n)
		next := map[string]int{}
		for _, l := range lines {
			var p, off int
			var k, v string
			if _, err := fmt.Sscanf(l, "%d %d %s %s", &p, &off, &k, &v); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			if strings.TrimPrefix(k, "key-") != strings.TrimPrefix(v, "value-") {
				t.Fatalf("key %s with value %s", k, v)
			}
			pk := fmt.Sprint(p)
			if off != next[pk] {
				t.Fatalf("partition %d offset %d, want %d", p, off, next[pk])
			}
			next[pk]++
			seen[k] = true
		}
		if len(seen) != n || len(next) != 3 {
			t.Fatalf("%d distinct keys over %d partitions, want %d over 3", len(seen), len(next), n)
		}
	}
	check()
	md := kcat(t, nil, "-b", b.addr, "-L", "-t", "kcat-topic")
	if !strings.Contains(string(md), "with 3 partitions") {
		t.Fatalf("metadata:\n%s", md)
	}
	b.restart()
	check()
}
