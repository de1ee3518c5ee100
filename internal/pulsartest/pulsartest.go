// Package pulsartest starts a real Apache Pulsar standalone for tests, with
// deploy/pulsar/pulsar.sh (jars from Maven Central), on free loopback
// ports, and stops it by its process id. Tests share one Pulsar per test
// binary: TestMain calls Start and the returned Pulsar's Stop.
//
// Setting KOP_TEST_PULSAR_URL and KOP_TEST_PULSAR_WEB_URL uses an already
// running Pulsar instead (which the caller then stops).
package pulsartest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/kop-project/kop/internal/freeport"
)

// Pulsar is a running standalone.
type Pulsar struct {
	ServiceURL string // pulsar://127.0.0.1:port
	WebURL     string // http://127.0.0.1:port
	Dir        string // its data directory ("" when not started here)
	script     string
	bookiePort string
	extraConf  string
	adminToken string
}

// Script is the path of deploy/pulsar/pulsar.sh in this checkout.
func Script() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "deploy", "pulsar", "pulsar.sh")
}

// Options change the standalone Start runs.
type Options struct {
	// ExtraConf lines (key=value) are added to standalone.conf, after
	// its own (later keys win): token authentication, for one.
	ExtraConf []string
	// AdminToken is the token the admin API is checked with, when
	// ExtraConf turns authentication on.
	AdminToken string
}

// Start starts a Pulsar standalone in a new temporary directory (building
// deploy/pulsar on first use) and returns once its admin API answers.
func Start() (*Pulsar, error) {
	if u, w := os.Getenv("KOP_TEST_PULSAR_URL"), os.Getenv("KOP_TEST_PULSAR_WEB_URL"); u != "" && w != "" {
		return &Pulsar{ServiceURL: u, WebURL: w}, nil
	}
	return StartWith(Options{})
}

// StartWith starts a standalone of its own with opts (never the one of
// KOP_TEST_PULSAR_URL).
func StartWith(opts Options) (*Pulsar, error) {
	dir, err := os.MkdirTemp("", "kop-pulsar")
	if err != nil {
		return nil, err
	}
	bport, err := freeport.Take()
	if err != nil {
		return nil, err
	}
	wport, err := freeport.Take()
	if err != nil {
		return nil, err
	}
	bkport, err := freeport.Take()
	if err != nil {
		return nil, err
	}
	p := &Pulsar{
		ServiceURL: "pulsar://127.0.0.1:" + strconv.Itoa(bport),
		WebURL:     "http://127.0.0.1:" + strconv.Itoa(wport),
		Dir:        dir,
		script:     Script(),
		bookiePort: strconv.Itoa(bkport),
		adminToken: opts.AdminToken,
	}
	args := []string{"up", "--data", dir, "--broker-port", strconv.Itoa(bport), "--web-port", strconv.Itoa(wport), "--bookie-port", p.bookiePort}
	if len(opts.ExtraConf) > 0 {
		p.extraConf = filepath.Join(dir, "extra.conf")
		if err := os.WriteFile(p.extraConf, []byte(strings.Join(opts.ExtraConf, "\n")+"\n"), 0o600); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		args = append(args, "--extra-conf", p.extraConf)
	}
	cmd := exec.Command(p.script, args...)
	cmd.Env = append(os.Environ(), "PULSAR_ADMIN_TOKEN="+opts.AdminToken)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pulsar.sh up: %v\n%s", err, out.String())
	}
	return p, nil
}

// Stop stops a Pulsar this package started (by the process id pulsar.sh
// recorded) and removes its data.
func (p *Pulsar) Stop() error {
	if p.Dir == "" {
		return nil
	}
	out, err := exec.Command(p.script, "down", "--data", p.Dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pulsar.sh down: %v\n%s", err, out)
	}
	return os.RemoveAll(p.Dir)
}

// PID is the process id of a Pulsar this package started (pulsar.sh
// records it), for the benchmark's CPU and memory figures; 0 when it was
// started elsewhere or the pid file cannot be read.
func (p *Pulsar) PID() int {
	if p.Dir == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(p.Dir, "pulsar.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Restart stops and starts the same Pulsar (same ports and data).
func (p *Pulsar) Restart() error {
	if p.Dir == "" {
		return fmt.Errorf("pulsartest: cannot restart a Pulsar started elsewhere")
	}
	if out, err := exec.Command(p.script, "down", "--data", p.Dir).CombinedOutput(); err != nil {
		return fmt.Errorf("pulsar.sh down: %v\n%s", err, out)
	}
	return p.up()
}

func (p *Pulsar) up() error {
	bport, wport := p.ServiceURL[len("pulsar://127.0.0.1:"):], p.WebURL[len("http://127.0.0.1:"):]
	args := []string{"up", "--data", p.Dir, "--broker-port", bport, "--web-port", wport, "--bookie-port", p.bookiePort}
	if p.extraConf != "" {
		args = append(args, "--extra-conf", p.extraConf)
	}
	cmd := exec.Command(p.script, args...)
	cmd.Env = append(os.Environ(), "PULSAR_ADMIN_TOKEN="+p.adminToken)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pulsar.sh up: %v\n%s", err, out)
	}
	return nil
}
