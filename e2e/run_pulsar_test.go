package e2e

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunPulsar: `make run-pulsar`'s script brings up a real Pulsar and a
// KOP storing its data there (a kcat round trip goes through), and
// Ctrl-C (SIGINT to the script) stops both: the script exits 130, KOP's
// port closes, Pulsar's process is gone and its pid file removed.
func TestRunPulsar(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	pulsarData := t.TempDir()
	kport, rport, hport := freePort(t), freePort(t), freePort(t)
	cmd := exec.Command("bash", filepath.Join("..", "scripts", "run-pulsar.sh"),
		fmt.Sprintf("--kafkaListeners=PLAINTEXT://127.0.0.1:%d", kport),
		fmt.Sprintf("--raftBindAddress=127.0.0.1:%d", rport),
		fmt.Sprintf("--httpAddress=127.0.0.1:%d", hport))
	cmd.Env = append(os.Environ(),
		"BIN="+kopBinary,
		"PULSAR_DATA="+pulsarData,
		"PULSAR_BROKER_PORT="+strconv.Itoa(freePort(t)),
		"PULSAR_WEB_PORT="+strconv.Itoa(freePort(t)),
		"PULSAR_BOOKIE_PORT="+strconv.Itoa(freePort(t)),
		"KOP_DATA="+t.TempDir())
	logPath := filepath.Join(t.TempDir(), "run-pulsar.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	pidFile := filepath.Join(pulsarData, "pulsar.pid")
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(90 * time.Second):
			cmd.Process.Kill()
		}
		// The script failed to stop Pulsar: by its pid, as a last resort.
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	logTail := func() string {
		b, _ := os.ReadFile(logPath)
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		return string(b)
	}

	// Ready: KOP's /readyz answers 200 (Pulsar starts first, then KOP).
	deadline := time.Now().Add(4 * time.Minute)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", hport))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("run-pulsar.sh exited before KOP was ready (%v):\n%s", err, logTail())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("KOP not ready within 4 minutes:\n%s", logTail())
		}
		time.Sleep(500 * time.Millisecond)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", kport)
	kcat(t, []byte("one\ntwo\nthree\n"), "-b", addr, "-P", "-t", "run-pulsar", "-X", "acks=all")
	if got := strings.Fields(string(kcat(t, nil, "-b", addr, "-C", "-t", "run-pulsar", "-o", "beginning", "-e", "-q"))); strings.Join(got, ",") != "one,two,three" {
		t.Fatalf("kcat read %v through KOP on Pulsar", got)
	}
	if !strings.Contains(readFile(t, logPath), "storing Kafka data in Pulsar") {
		t.Fatalf("KOP did not say it stores its data in Pulsar:\n%s", logTail())
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("no Pulsar pid file while running: %v", err)
	}
	pulsarPID, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}

	// Ctrl-C.
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		stopped = true
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("run-pulsar.sh after SIGINT: %v, want exit status 130:\n%s", err, logTail())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("run-pulsar.sh still running 2 minutes after SIGINT:\n%s", logTail())
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("Pulsar's pid file is still there (%v)", err)
	}
	if syscall.Kill(pulsarPID, 0) == nil {
		t.Errorf("Pulsar (pid %d) still runs after the script stopped", pulsarPID)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("KOP still listens on %s", addr)
	}
}

func readFile(t testing.TB, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
