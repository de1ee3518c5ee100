// Command kop is the KOP broker: Kafka's wire protocol in front of an
// embedded log or Apache Pulsar, with cluster metadata in Raft.
//
//	kop standalone   [--config FILE] [--key=value ...]
//	kop kafka-broker [--config FILE] [--key=value ...]
//	kop version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/kop-project/kop/conf"
	"github.com/kop-project/kop/node"
)

// exitConfig is the exit status of a refused configuration (sysexits'
// EX_CONFIG), so a service manager can tell it from a crash and not retry.
const exitConfig = 78

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

const usage = `kop — Kafka on Pulsar

Usage:
  kop standalone   [--config FILE] [--KEY=VALUE ...]   one node: Raft of one, embedded log
                                                        (or Pulsar when brokerServiceUrl is set)
  kop kafka-broker [--config FILE] [--KEY=VALUE ...]   a member of a Raft cluster (raftPeers)
  kop version                                           print the version
  kop help [standalone|kafka-broker]                    this text, or the configuration keys

Configuration: built-in defaults, then the file (default conf/kop_standalone.conf
or conf/kop.conf when present), then KOP_<KEY> environment variables, then
--KEY=VALUE flags. SIGINT or SIGTERM shuts the broker down gracefully.
`

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func run(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "kop %s\n", version)
		return 0
	case "help", "--help", "-h":
		if len(args) > 1 {
			if mode, ok := modeOf(args[1]); ok {
				printKeys(stdout, mode)
				return 0
			}
		}
		fmt.Fprint(stdout, usage)
		return 0
	}
	mode, ok := modeOf(args[0])
	if !ok {
		fmt.Fprintf(stderr, "kop: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	for _, a := range args[1:] {
		if a == "--help" || a == "-h" {
			printKeys(stdout, mode)
			return 0
		}
	}
	boot := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := conf.Load(mode, args[1:], environ, boot)
	if err != nil {
		fmt.Fprintf(stderr, "kop: %v\n", err)
		return exitConfig
	}
	level := new(slog.LevelVar) // changed at run time through the admin endpoint
	level.Set(cfg.LogLevel)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ncfg, err := nodeConfig(mode, cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "kop: %v\n", err)
		return exitConfig
	}
	ncfg.LogLevel = level
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger.Info("starting kop", "version", version, "mode", args[0], "broker", ncfg.NodeID, "dataDir", ncfg.DataDir)
	n, err := node.Start(ctx, ncfg)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			logger.Info("interrupted during start-up")
			return 1
		}
		logger.Error("start-up failed", "err", err)
		return 1
	}
	code := 0
	select {
	case <-ctx.Done():
	case <-n.Halted():
		// The metadata log holds an entry this version cannot apply: stop,
		// so the others lead, until the broker is upgraded.
		logger.Error("stopping: this broker cannot apply the cluster metadata; upgrade it", "err", n.HaltErr())
		code = 1
	}
	stop()
	logger.Info("shutting down")
	if err := n.Close(); err != nil {
		logger.Error("shutdown", "err", err)
		return 1
	}
	logger.Info("stopped")
	return code
}

func modeOf(s string) (conf.Mode, bool) {
	switch s {
	case "standalone":
		return conf.Standalone, true
	case "kafka-broker":
		return conf.KafkaBroker, true
	}
	return 0, false
}
