package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kop-project/kop/internal/freeport"
	"github.com/kop-project/kop/internal/pulsartest"
)

// kopBinary is the broker binary built once by TestMain; kopRaceBinary is
// the same built with the race detector, which every broker on the
// embedded log runs (a race it reports fails the test). Brokers on Pulsar
// run kopBinary: pulsar-client-go's producer races inside itself (see the
// Makefile), which would fail every one of them.
var kopBinary, kopRaceBinary string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "kop-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	kopBinary = filepath.Join(dir, "kop")
	kopRaceBinary = filepath.Join(dir, "kop-race")
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	for _, args := range [][]string{
		{"build", "-o", kopBinary, "./cmd/kop"},
		{"build", "-race", "-o", kopRaceBinary, "./cmd/kop"},
	} {
		build := exec.Command("go", args...)
		build.Dir = root
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building kop:", args, err)
			return 1
		}
	}
	code := m.Run()
	stopPulsar()
	return code
}

var (
	pulsarOnce sync.Once
	pulsarInst *pulsartest.Pulsar
	pulsarErr  error
)

// sharedPulsar is the real Pulsar standalone the Pulsar tests of this
// binary share, started on first use and stopped by TestMain.
func sharedPulsar(t testing.TB) *pulsartest.Pulsar {
	t.Helper()
	pulsarOnce.Do(func() { pulsarInst, pulsarErr = pulsartest.Start() })
	if pulsarErr != nil {
		t.Fatalf("starting Pulsar: %v", pulsarErr)
	}
	return pulsarInst
}

func stopPulsar() {
	if pulsarInst != nil {
		if err := pulsarInst.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping Pulsar:", err)
		}
	}
}

// startOnPulsar starts `kop standalone` storing its data in the shared
// Pulsar, in a tenant of its own, which it returns.
func startOnPulsar(t testing.TB, extra map[string]string) (*broker, *pulsartest.Pulsar, string) {
	t.Helper()
	kv, p, tenant := onPulsar(t, extra)
	return startStandalone(t, kv), p, tenant
}

// startClusterOnPulsar starts an n-broker cluster (startCluster) keeping
// its data in the shared Pulsar, under a tenant of its own.
func startClusterOnPulsar(t testing.TB, n int, extra map[string]string) []*broker {
	t.Helper()
	kv, _, _ := onPulsar(t, extra)
	return startCluster(t, n, kv)
}

// onPulsar is extra plus the keys that put a broker's data in the shared
// Pulsar under a fresh tenant.
func onPulsar(t testing.TB, extra map[string]string) (map[string]string, *pulsartest.Pulsar, string) {
	t.Helper()
	p := sharedPulsar(t)
	tenant := fmt.Sprintf("kop-e2e-%d", time.Now().UnixNano()%1_000_000_000)
	kv := map[string]string{
		"brokerServiceUrl": p.ServiceURL,
		"webServiceUrl":    p.WebURL,
		"kafkaTenant":      tenant,
	}
	for k, v := range extra {
		kv[k] = v
	}
	return kv, p, tenant
}

// freePort returns a loopback TCP port that was free a moment ago and that
// no other server of this test binary was given.
func freePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.Take()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// broker is one kop process.
type broker struct {
	t        testing.TB
	binary   string // kopRaceBinary, or kopBinary on Pulsar
	mode     string // standalone or kafka-broker
	dataDir  string
	confPath string
	addr     string // Kafka listener host:port
	httpAddr string
	cmd      *exec.Cmd
	exited   chan struct{}
	logPath  string
}

// startStandalone starts `kop standalone` with a fresh data directory and
// the given extra configuration keys.
func startStandalone(t testing.TB, extra map[string]string) *broker {
	t.Helper()
	kport, rport, hport := freePort(t), freePort(t), freePort(t)
	b := newBroker(t, "standalone", kport, rport, hport, extra)
	b.start()
	return b
}

// startStandalonePlain is startStandalone on the build without the race
// detector, for tests that measure the broker's memory (the detector
// multiplies it).
func startStandalonePlain(t testing.TB, extra map[string]string) *broker {
	t.Helper()
	kport, rport, hport := freePort(t), freePort(t), freePort(t)
	b := newBroker(t, "standalone", kport, rport, hport, extra)
	b.binary = kopBinary
	b.start()
	return b
}

// startCluster starts n `kop kafka-broker` processes (ids 1..n) forming
// one Raft group, with the given extra configuration keys, and waits until
// every one serves Kafka.
func startCluster(t testing.TB, n int, extra map[string]string) []*broker {
	t.Helper()
	type ports struct{ kafka, raft, http int }
	ps := make([]ports, n)
	var peers []string
	for i := range ps {
		ps[i] = ports{freePort(t), freePort(t), freePort(t)}
		peers = append(peers, fmt.Sprintf("%d@127.0.0.1:%d", i+1, ps[i].raft))
	}
	var bs []*broker
	for i, p := range ps {
		kv := map[string]string{"raftNodeId": fmt.Sprint(i + 1), "raftPeers": strings.Join(peers, ",")}
		for k, v := range extra {
			kv[k] = v
		}
		bs = append(bs, newBroker(t, "kafka-broker", p.kafka, p.raft, p.http, kv))
	}
	// Every member is launched before any is waited for: none is ready
	// until a quorum has elected a Raft leader.
	for _, b := range bs {
		b.launch()
	}
	for _, b := range bs {
		b.waitReady(90 * time.Second)
	}
	return bs
}

// newBroker writes the configuration of one kop process (mode standalone
// or kafka-broker) on the given loopback ports; start launches it.
func newBroker(t testing.TB, mode string, kport, rport, hport int, extra map[string]string) *broker {
	t.Helper()
	b := &broker{t: t, binary: kopRaceBinary, mode: mode, dataDir: t.TempDir()}
	if extra["brokerServiceUrl"] != "" {
		b.binary = kopBinary
	}
	b.addr = fmt.Sprintf("127.0.0.1:%d", kport)
	b.httpAddr = fmt.Sprintf("127.0.0.1:%d", hport)
	kv := map[string]string{
		"kafkaListeners":  "PLAINTEXT://" + b.addr,
		"dataDir":         b.dataDir,
		"raftBindAddress": fmt.Sprintf("127.0.0.1:%d", rport),
		"httpAddress":     b.httpAddr,
		"logLevel":        "info",
	}
	for k, v := range extra {
		kv[k] = v
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=%s\n", k, kv[k])
	}
	b.confPath = filepath.Join(t.TempDir(), "kop.conf")
	if err := os.WriteFile(b.confPath, []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	b.logPath = filepath.Join(t.TempDir(), "kop.log")
	t.Cleanup(func() {
		b.stop()
		if dir := os.Getenv("E2E_KOP_LOG_DIR"); dir != "" {
			// Kept for reading after the run (the temporary ones go).
			if out, err := os.ReadFile(b.logPath); err == nil {
				name := strings.NewReplacer("/", "_", ":", "_").Replace(t.Name() + "-" + b.addr + ".log")
				os.WriteFile(filepath.Join(dir, name), out, 0o644)
			}
		}
		if out, err := os.ReadFile(b.logPath); err == nil {
			if i := bytes.Index(out, []byte("WARNING: DATA RACE")); i >= 0 {
				report := out[i:]
				if end := bytes.Index(report, []byte("\n==================\n")); end >= 0 {
					report = report[:end]
				}
				t.Errorf("the race detector found a data race in kop (%s):\n%s", b.addr, report)
			}
		}
		if t.Failed() {
			if out, err := os.ReadFile(b.logPath); err == nil {
				// Raft's own lines (elections of a lone node) would
				// fill the tail; KOP's say what happened.
				var kept []string
				for _, line := range strings.Split(string(out), "\n") {
					if !strings.Contains(line, "module=raft") {
						kept = append(kept, line)
					}
				}
				tail := strings.Join(kept, "\n")
				if len(tail) > 12000 {
					tail = tail[len(tail)-12000:]
				}
				t.Logf("%s log tail:\n%s", b.addr, tail)
			}
		}
	})
	return b
}

// start launches the process and waits until it serves Kafka.
func (b *broker) start() {
	b.t.Helper()
	b.launch()
	b.waitReady(60 * time.Second)
}

// launch starts the process without waiting for it.
func (b *broker) launch() {
	b.t.Helper()
	logf, err := os.OpenFile(b.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		b.t.Fatal(err)
	}
	cmd := exec.Command(b.binary, b.mode, "--config", b.confPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		b.t.Fatalf("starting kop: %v", err)
	}
	b.cmd = cmd
	b.exited = make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(b.exited)
	}()
}

// waitReady polls /readyz until the broker serves Kafka.
func (b *broker) waitReady(timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-b.exited:
			out, _ := os.ReadFile(b.logPath)
			b.t.Fatalf("kop exited during start-up:\n%s", out)
		default:
		}
		resp, err := http.Get("http://" + b.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("kop not ready after %s", timeout)
}

// stop sends SIGTERM and waits for a graceful exit, SIGKILL after 30s.
func (b *broker) stop() {
	if b.cmd == nil {
		return
	}
	select {
	case <-b.exited:
		b.cmd = nil
		return
	default:
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		// A graceful shutdown ends with status 0.
		if code := b.cmd.ProcessState.ExitCode(); code != 0 {
			b.t.Errorf("kop exited with status %d after SIGTERM", code)
		}
	case <-time.After(30 * time.Second):
		b.t.Errorf("kop (pid %d) did not stop within 30s of SIGTERM; its goroutines are in its log; killing it", b.cmd.Process.Pid)
		// SIGQUIT makes the Go runtime write every goroutine's stack to
		// the log (and exit), which says where the shutdown hung.
		b.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-b.exited:
		case <-time.After(5 * time.Second):
			b.cmd.Process.Kill()
			<-b.exited
		}
	}
	b.cmd = nil
}

// kill9 kills the broker at once, as a crash would.
func (b *broker) kill9() {
	b.t.Helper()
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.exited
	b.cmd = nil
}

// signal sends sig (SIGSTOP, SIGCONT) to the running broker.
func (b *broker) signal(sig syscall.Signal) {
	b.t.Helper()
	if b.cmd == nil {
		return
	}
	if err := b.cmd.Process.Signal(sig); err != nil {
		b.t.Errorf("sending %v to kop (pid %d): %v", sig, b.cmd.Process.Pid, err)
	}
}

// restart stops the broker gracefully and starts it again on the same data.
func (b *broker) restart() {
	b.t.Helper()
	b.stop()
	b.start()
}

func testCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// metric reads one unlabelled value from the broker's /metrics.
func metric(t testing.TB, b *broker, name string) (int64, error) {
	t.Helper()
	resp, err := http.Get("http://" + b.httpAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (-?\d+)$`).FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("/metrics has no %s", name)
	}
	return strconv.ParseInt(string(m[1]), 10, 64)
}

// waitMetric waits, up to a minute, until the metric reaches at least min.
func waitMetric(t testing.TB, b *broker, name string, min int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		v, err := metric(t, b, name)
		if err == nil && v >= min {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never reached %d (last %d, %v)", name, min, v, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
