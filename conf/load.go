package conf

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// delim is koanf's key-path delimiter. KOP keys are flat, and keys from
// Kafka-style files contain dots, so a byte that never occurs in a key is
// used to keep koanf from nesting them.
const delim = "\x1f"

// DefaultFile is the configuration file read when no --config is given,
// relative to the working directory, if it exists.
func DefaultFile(m Mode) string {
	if m == KafkaBroker {
		return "conf/kop.conf"
	}
	return "conf/kop_standalone.conf"
}

// Load builds the configuration of a broker in mode from the built-in
// defaults, the properties file (--config, else DefaultFile if present),
// the KOP_* variables of environ, and the --key=value flags in args.
func Load(mode Mode, args, environ []string, logger *slog.Logger) (*Config, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	fs := pflag.NewFlagSet("kop "+mode.String(), pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "configuration file")
	for _, k := range keys {
		fs.String(k.name, "", k.doc)
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("command line: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("command line: unexpected argument %q", fs.Arg(0))
	}

	k := koanf.New(delim)
	sources := make(map[string]Source, len(keys))
	defaults := make(map[string]any, len(keys))
	for _, kd := range keys {
		defaults[kd.name] = kd.defaultFor(mode)
		sources[kd.name] = SourceDefault
	}
	if err := k.Load(confmap.Provider(defaults, delim), nil); err != nil {
		return nil, fmt.Errorf("defaults: %w", err)
	}

	path := *configPath
	if path == "" {
		if _, err := os.Stat(DefaultFile(mode)); err == nil {
			path = DefaultFile(mode)
		}
	}
	if path != "" {
		fk := koanf.New(delim)
		if err := fk.Load(file.Provider(path), properties{}); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		for _, name := range fk.Keys() {
			if _, ok := lookupKey(name); !ok {
				logger.Warn("ignoring unknown config key", "file", path, "key", name)
				continue
			}
			sources[name] = SourceFile
		}
		if err := k.Merge(fk); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}

	envMap := make(map[string]any)
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "KOP_") {
			continue
		}
		kd, ok := keyForEnv(strings.TrimPrefix(name, "KOP_"))
		if !ok {
			logger.Warn("ignoring unknown KOP_ environment variable", "name", name)
			continue
		}
		envMap[kd.name] = value
		sources[kd.name] = SourceEnv
	}
	if err := k.Load(confmap.Provider(envMap, delim), nil); err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}

	flags := posflag.ProviderWithFlag(fs, delim, k, func(f *pflag.Flag) (string, any) {
		if !f.Changed || f.Name == "config" {
			return "", nil
		}
		sources[f.Name] = SourceFlag
		return f.Name, f.Value.String()
	})
	if err := k.Load(flags, nil); err != nil {
		return nil, fmt.Errorf("command line: %w", err)
	}

	c := &Config{Mode: mode, values: make(map[string]string, len(keys)), sources: sources}
	for _, kd := range keys {
		c.values[kd.name] = k.String(kd.name)
	}
	// The seed's kafkaServicePort still works: it moves the default
	// listener to that port unless kafkaListeners was set explicitly.
	if p := strings.TrimSpace(c.values["kafkaServicePort"]); p != "" && sources["kafkaListeners"] == SourceDefault {
		ls, err := parseListeners("kafkaListeners", c.values["kafkaListeners"])
		if err != nil {
			return nil, err
		}
		c.values["kafkaListeners"] = "PLAINTEXT://" + net.JoinHostPort(ls[0].Host, p)
		sources["kafkaListeners"] = sources["kafkaServicePort"]
	}
	var errs []error
	for _, kd := range keys {
		if err := kd.set(c, kd.name, c.values[kd.name]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := c.finish(); err != nil {
		return nil, err
	}
	return c, nil
}

// keyForEnv matches an environment name (after KOP_) to a key, ignoring
// case and underscores: KAFKALISTENERS, kafkaListeners and KAFKA_LISTENERS
// all name kafkaListeners.
func keyForEnv(name string) (key, bool) {
	norm := strings.ToLower(strings.ReplaceAll(name, "_", ""))
	for _, k := range keys {
		if strings.ToLower(k.name) == norm {
			return k, true
		}
	}
	return key{}, false
}

// finish derives the settings that depend on others and applies the rules
// that span keys.
func (c *Config) finish() error {
	seenPorts := map[int]string{}
	for _, l := range c.KafkaListeners {
		if other, dup := seenPorts[l.Port]; dup && l.Port != 0 {
			return keyError("kafkaListeners", c.values["kafkaListeners"], fmt.Sprintf("listeners %s and %s share port %d", other, l.Name, l.Port))
		}
		seenPorts[l.Port] = l.Name
	}
	if len(c.KafkaAdvertisedListeners) == 0 {
		for _, l := range c.KafkaListeners {
			l.Host = advertisableHost(l.Host)
			c.KafkaAdvertisedListeners = append(c.KafkaAdvertisedListeners, l)
		}
	} else {
		if len(c.KafkaAdvertisedListeners) != len(c.KafkaListeners) {
			return keyError("kafkaAdvertisedListeners", c.values["kafkaAdvertisedListeners"], "must name the same listeners as kafkaListeners")
		}
		for i, l := range c.KafkaListeners {
			if c.KafkaAdvertisedListeners[i].Name != l.Name {
				return keyError("kafkaAdvertisedListeners", c.values["kafkaAdvertisedListeners"], "must name the same listeners as kafkaListeners, in the same order")
			}
		}
	}
	if c.RaftAdvertisedAddress == "" {
		host, port, _ := splitHostPort(c.RaftBindAddress)
		c.RaftAdvertisedAddress = net.JoinHostPort(advertisableHost(host), port)
	}
	if c.GroupMinSessionTimeoutMs > c.GroupMaxSessionTimeoutMs {
		return keyError("groupMinSessionTimeoutMs", c.values["groupMinSessionTimeoutMs"], "must not exceed groupMaxSessionTimeoutMs")
	}
	switch c.Mode {
	case KafkaBroker:
		if c.sources["raftNodeId"] == SourceDefault {
			return keyError("raftNodeId", "", "must be set for kafka-broker (each broker of the cluster has its own id)")
		}
		if len(c.RaftPeers) == 0 {
			return keyError("raftPeers", c.values["raftPeers"], "must list the cluster's voters (id@host:port,…) for kafka-broker")
		}
		found := false
		for _, p := range c.RaftPeers {
			found = found || p.ID == c.RaftNodeID
		}
		if !found {
			return keyError("raftPeers", c.values["raftPeers"], fmt.Sprintf("must include this broker (raftNodeId %d)", c.RaftNodeID))
		}
	default:
		c.RaftPeers = nil
	}
	return nil
}

// advertisableHost replaces a wildcard bind address by the host name.
func advertisableHost(h string) string {
	if h == "" || h == "0.0.0.0" || h == "::" {
		if name, err := os.Hostname(); err == nil && name != "" {
			return name
		}
		return "127.0.0.1"
	}
	return h
}

func splitHostPort(v string) (string, string, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "", "", err
	}
	if port == "" {
		return "", "", errors.New("missing port")
	}
	return host, port, nil
}
