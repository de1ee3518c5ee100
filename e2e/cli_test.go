package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestBadConfigRefusesToStart: the binary exits 78 (EX_CONFIG) and names
// the key and the reason.
func TestBadConfigRefusesToStart(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"standalone", "--defaultNumPartitions=0"}, `config key "defaultNumPartitions"`},
		{[]string{"standalone", "--kafkaListeners=nonsense"}, `config key "kafkaListeners"`},
		{[]string{"kafka-broker"}, `config key "raftNodeId"`},
		{[]string{"standalone", "--config=/nonexistent/kop.conf"}, "/nonexistent/kop.conf"},
	} {
		cmd := exec.Command(kopBinary, tc.args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 78 {
			t.Fatalf("kop %s: %v, want exit status 78", strings.Join(tc.args, " "), err)
		}
		if !strings.Contains(stderr.String(), tc.want) {
			t.Fatalf("kop %s said %q, want it to name %s", strings.Join(tc.args, " "), stderr.String(), tc.want)
		}
	}
	out, err := exec.Command(kopBinary, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "kop ") {
		t.Fatalf("kop version: %q %v", out, err)
	}
	out, err = exec.Command(kopBinary, "help", "standalone").Output()
	if err != nil || !strings.Contains(string(out), "kafkaListeners") {
		t.Fatalf("kop help standalone: %v", err)
	}
}
