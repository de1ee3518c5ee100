package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kop-project/kop/internal/freeport"
	"github.com/kop-project/kop/internal/pulsartest"
)

// A system is one broker under test: KOP standalone, Apache Kafka, KOP on
// Pulsar, or Pulsar itself through pulsar-client-go.
type system struct {
	key  string // kop, kafka, kop-pulsar, pulsar
	name string
	// addr is the Kafka bootstrap address; empty for native Pulsar.
	addr string
	// pulsar is the Pulsar the native rows use.
	pulsar *pulsartest.Pulsar
	// pids are the processes whose CPU counts as the broker's (KOP on
	// Pulsar: KOP and Pulsar).
	pids []int
	// rssPID is the process whose peak memory is reported.
	rssPID int
	// httpAddr is KOP's admin endpoint (profiles), when it is KOP.
	httpAddr string
}

// clients are the load generators that drive s.
func (s *system) clients(java bool) []string {
	if s.addr == "" {
		return []string{clientPulsar}
	}
	if java {
		return []string{clientFranz, clientJava}
	}
	return []string{clientFranz}
}

const (
	clientFranz  = "franz-go"
	clientJava   = "Java perf tools"
	clientPulsar = "pulsar-client-go"
)

// startKop runs `kop standalone` on free loopback ports and returns its
// Kafka address, its admin address, a function stopping it by process id,
// and the process id.
func startKop(bin, dir string, extra ...string) (addr, httpAddr string, stop func(), pid int, err error) {
	var ports [3]int
	for i := range ports {
		p, err := freeport.Take()
		if err != nil {
			return "", "", nil, 0, err
		}
		ports[i] = p
	}
	addr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	httpAddr = fmt.Sprintf("127.0.0.1:%d", ports[2])
	logf, err := os.Create(filepath.Join(dir, "kop.log"))
	if err != nil {
		return "", "", nil, 0, err
	}
	args := append([]string{"standalone",
		"--kafkaListeners=PLAINTEXT://" + addr,
		fmt.Sprintf("--raftBindAddress=127.0.0.1:%d", ports[1]),
		"--httpAddress=" + httpAddr,
		"--dataDir=" + filepath.Join(dir, "data"),
		"--logLevel=warn"}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", "", nil, 0, fmt.Errorf("start %s: %w", bin, err)
	}
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, httpAddr, stop, cmd.Process.Pid, nil
			}
		}
	}
	stop()
	return "", "", nil, 0, fmt.Errorf("kop did not become ready; see %s", logf.Name())
}

// kafkaScript is deploy/kafka/kafka.sh, run from the repository root
// (`make bench`) or given with -kafka-script.
var kafkaScript = "deploy/kafka/kafka.sh"

// startKafka runs Apache Kafka in KRaft mode (deploy/kafka/kafka.sh: jars
// from Maven Central, Kafka's own defaults, no fsync before
// acknowledging) in dir on free loopback ports, and returns its address,
// a function stopping it by process id, and the process id.
func startKafka(dir string) (addr string, stop func(), pid int, err error) {
	port, err := freeport.Take()
	if err != nil {
		return "", nil, 0, err
	}
	cport, err := freeport.Take()
	if err != nil {
		return "", nil, 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var out bytes.Buffer
	up := exec.CommandContext(ctx, kafkaScript, "up", "--data", dir, "--port", strconv.Itoa(port), "--controller-port", strconv.Itoa(cport))
	up.Stdout, up.Stderr = &out, &out
	if err := up.Run(); err != nil {
		return "", nil, 0, fmt.Errorf("kafka.sh up: %v\n%s", err, out.String())
	}
	stop = func() {
		if out, err := exec.Command(kafkaScript, "down", "--data", dir).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "kafka.sh down: %v\n%s", err, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "kafka.pid"))
	if err == nil {
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if err != nil {
		stop()
		return "", nil, 0, fmt.Errorf("kafka.sh up left no process id: %w", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port), stop, pid, nil
}
