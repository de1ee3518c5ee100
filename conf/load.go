package conf

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"sort"
	"strconv"
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

// maxFileBytes bounds the configuration file; real ones are a few KiB.
const maxFileBytes = 16 << 20

// EnvPrefix starts the environment variables Load reads.
const EnvPrefix = "KOP_"

// DefaultFile is the configuration file read when no --config is given,
// relative to the working directory, if it exists.
func DefaultFile(m Mode) string {
	if m == KafkaBroker {
		return "conf/kop.conf"
	}
	return "conf/kop_standalone.conf"
}

// Load builds the configuration of a broker in mode. Later sources win:
// the built-in defaults of mode, the properties file (--config FILE in args,
// else DefaultFile(mode) if it exists), the KOP_* variables of environ
// ("NAME=value" strings, as os.Environ returns), then the --key=value flags
// of args (what follows the subcommand on the command line).
//
// Unknown keys in the file and unknown KOP_ variables are logged at warn
// level and ignored. Refused values are reported as *KeyError (several
// joined with errors.Join), naming the key, the reason and where the value
// was set. logger may be nil.
func Load(mode Mode, args, environ []string, logger *slog.Logger) (*Config, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fs := pflag.NewFlagSet("kop "+mode.String(), pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	configPath := fs.String("config", "", "configuration file (key=value)")
	for _, k := range keys {
		fs.String(k.name, k.defaultFor(mode), k.doc)
	}
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("command line: %w", err)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("command line: unexpected argument %q (settings are --key=value)", fs.Arg(0))
	}

	k := koanf.New(delim)
	sources := make(map[string]Source, len(keys))
	origins := make(map[string]string, len(keys)) // key → where it was set, for errors
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
		if st, err := os.Stat(DefaultFile(mode)); err == nil && st.Mode().IsRegular() {
			path = DefaultFile(mode)
		}
	}
	if path != "" {
		fileMap, err := readFile(path, logger)
		if err != nil {
			return nil, err
		}
		for name := range fileMap {
			sources[name] = SourceFile
			origins[name] = "file " + path
		}
		if err := k.Load(confmap.Provider(fileMap, delim), nil); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
	}

	envMap := make(map[string]any)
	envName := make(map[string]string)
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		kd, ok := keyForEnv(strings.TrimPrefix(name, EnvPrefix))
		if !ok {
			logger.Warn("ignoring unknown KOP_ environment variable", "name", name)
			continue
		}
		if prev, dup := envName[kd.name]; dup && prev != name {
			logger.Warn("config key set by two environment variables; the later wins", "key", kd.name, "ignored", prev, "used", name)
		}
		envMap[kd.name] = value
		envName[kd.name] = name
		sources[kd.name] = SourceEnv
		origins[kd.name] = "environment " + name
	}
	if err := k.Load(confmap.Provider(envMap, delim), nil); err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}

	flags := posflag.ProviderWithFlag(fs, delim, k, func(f *pflag.Flag) (string, any) {
		if !f.Changed || f.Name == "config" {
			return "", nil
		}
		sources[f.Name] = SourceFlag
		origins[f.Name] = "flag --" + f.Name
		return f.Name, f.Value.String()
	})
	if err := k.Load(flags, nil); err != nil {
		return nil, fmt.Errorf("command line: %w", err)
	}

	c := &Config{Mode: mode, values: make(map[string]string, len(keys)), Sources: sources}
	for _, kd := range keys {
		c.values[kd.name] = k.String(kd.name)
	}
	if err := c.setAll(origins); err != nil {
		return nil, err
	}
	if err := c.finish(logger); err != nil {
		var ke *KeyError
		if errors.As(err, &ke) && ke.Origin == "" {
			ke.Origin = origins[ke.Key]
		}
		return nil, err
	}
	return c, nil
}

// readFile parses the properties file at path and returns its known keys;
// unknown ones are logged.
func readFile(path string, logger *slog.Logger) (map[string]any, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("config file %s: not a regular file", path)
	}
	if st.Size() > maxFileBytes {
		return nil, fmt.Errorf("config file %s: %d bytes, larger than the %d allowed", path, st.Size(), maxFileBytes)
	}
	fk := koanf.New(delim)
	if err := fk.Load(file.Provider(path), Properties{}); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	all := fk.Raw()
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]any, len(names))
	for _, name := range names {
		if _, ok := lookupKey(name); ok {
			out[name] = all[name]
			continue
		}
		attrs := []any{"file", path, "key", name}
		if kd, ok := keyForEnv(name); ok {
			attrs = append(attrs, "didYouMean", kd.name)
		}
		logger.Warn("ignoring unknown config key", attrs...)
	}
	return out, nil
}

// setAll checks every value and stores it in the typed fields. All refused
// values are reported, not just the first.
func (c *Config) setAll(origins map[string]string) error {
	var errs []error
	fail := func(err error) {
		var ke *KeyError
		if errors.As(err, &ke) {
			ke.Origin = origins[ke.Key]
		}
		errs = append(errs, err)
	}
	// The seed's kafkaServicePort still works: it moves the default
	// listener to that port unless kafkaListeners was set explicitly.
	if p := strings.TrimSpace(c.values["kafkaServicePort"]); p != "" {
		kd, _ := lookupKey("kafkaServicePort")
		if err := kd.set(c, kd.name, p); err != nil {
			fail(err)
			return errors.Join(errs...)
		}
		if c.Sources["kafkaListeners"] == SourceDefault {
			host := "127.0.0.1"
			if c.Mode == KafkaBroker {
				host = "0.0.0.0"
			}
			c.values["kafkaListeners"] = ProtocolPlaintext + "://" + net.JoinHostPort(host, p)
			c.Sources["kafkaListeners"] = c.Sources["kafkaServicePort"]
			origins["kafkaListeners"] = origins["kafkaServicePort"]
		}
	}
	for _, late := range []bool{false, true} {
		for _, kd := range keys {
			if kd.late != late {
				continue
			}
			if err := kd.set(c, kd.name, c.values[kd.name]); err != nil {
				fail(err)
			}
		}
		if len(errs) > 0 {
			// Late keys read earlier ones; do not pile derived errors
			// on the real ones.
			break
		}
	}
	return errors.Join(errs...)
}

// keyForEnv matches a name (after KOP_) to a key, ignoring case and
// underscores: KAFKALISTENERS, kafkaListeners and KAFKA_LISTENERS all name
// kafkaListeners.
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
func (c *Config) finish(logger *slog.Logger) error {
	// Advertised Kafka listeners.
	if len(c.KafkaAdvertisedListeners) == 0 {
		for _, l := range c.KafkaListeners {
			l.Host = advertisableHost(l.Host)
			c.KafkaAdvertisedListeners = append(c.KafkaAdvertisedListeners, l)
		}
		c.values["kafkaAdvertisedListeners"] = joinListeners(c.KafkaAdvertisedListeners)
	} else {
		v := c.values["kafkaAdvertisedListeners"]
		if len(c.KafkaAdvertisedListeners) != len(c.KafkaListeners) {
			return keyError("kafkaAdvertisedListeners", v, "must name the same listeners as kafkaListeners ("+joinNames(c.KafkaListeners)+")")
		}
		for i, l := range c.KafkaListeners {
			a := c.KafkaAdvertisedListeners[i]
			if a.Name != l.Name {
				return keyError("kafkaAdvertisedListeners", v, "must name the same listeners as kafkaListeners, in the same order ("+joinNames(c.KafkaListeners)+")")
			}
			if isWildcard(a.Host) || a.Port == 0 {
				return keyError("kafkaAdvertisedListeners", v, fmt.Sprintf("listener %s: %s is not an address clients can connect to", a.Name, a.Addr()))
			}
		}
	}

	// The inter-broker listener.
	if c.InterBrokerListenerName == "" {
		c.InterBrokerListenerName = c.KafkaListeners[0].Name
	}
	var inter *Listener
	for i, l := range c.KafkaListeners {
		if l.Name == c.InterBrokerListenerName {
			inter = &c.KafkaListeners[i]
		}
	}
	if inter == nil {
		return keyError("interBrokerListenerName", c.InterBrokerListenerName, "must name one of kafkaListeners ("+joinNames(c.KafkaListeners)+")")
	}
	if inter.UsesSASL() && (c.Mode == KafkaBroker || c.Sources["interBrokerListenerName"] != SourceDefault) {
		return keyError("interBrokerListenerName", c.InterBrokerListenerName, "must be a PLAINTEXT or SSL listener (add one, e.g. INTERNAL:SSL in kafkaProtocolMap): brokers do not authenticate to each other with SASL")
	}

	// Security of the listeners.
	for _, l := range c.KafkaListeners {
		if l.UsesTLS() && c.KopSslKeystoreLocation == "" {
			return keyError("kopSslKeystoreLocation", "", fmt.Sprintf("must name the PEM certificate and key of the %s listener %s", l.SecurityProtocol, l.Name))
		}
	}
	if c.RaftSecurityProtocol == "SSL" && (c.KopSslKeystoreLocation == "" || c.KopSslTruststoreLocation == "") {
		key := "kopSslKeystoreLocation"
		if c.KopSslKeystoreLocation != "" {
			key = "kopSslTruststoreLocation"
		}
		return keyError(key, "", "must be set: raftSecurityProtocol is SSL (the broker's certificate, and the CAs of the other brokers' certificates)")
	}
	if c.KopSslClientAuth != "none" && c.KopSslTruststoreLocation == "" {
		return keyError("kopSslTruststoreLocation", "", "must name the CAs of client certificates when kopSslClientAuth is "+c.KopSslClientAuth)
	}
	if slices.Contains(c.SaslAllowedMechanisms, "OAUTHBEARER") && c.SaslOauthbearerJwksFile == "" {
		for _, l := range c.KafkaListeners {
			if l.UsesSASL() {
				return keyError("saslOauthbearerJwksFile", "", "must name the identity provider's JSON Web Key Set: saslAllowedMechanisms has OAUTHBEARER")
			}
		}
	}
	if c.TokenSecretKey != "" && c.TokenPublicKey != "" {
		return keyError("tokenPublicKey", c.TokenPublicKey, "tokenSecretKey is set too; set one of them")
	}

	if c.QueuedMaxRequestBytes < int64(c.SocketRequestMaxBytes) {
		return keyError("queuedMaxRequestBytes", strconv.FormatInt(c.QueuedMaxRequestBytes, 10),
			fmt.Sprintf("must be at least socketRequestMaxBytes (%d): a request that size could never be read", c.SocketRequestMaxBytes))
	}

	// Raft addresses and peers.
	bindHost, bindPort, _ := splitHostPort(c.RaftBindAddress, true)
	if c.RaftAdvertisedAddress != "" {
		if h, p, _ := splitHostPort(c.RaftAdvertisedAddress, true); isWildcard(h) || p == 0 {
			return keyError("raftAdvertisedAddress", c.RaftAdvertisedAddress, "is not an address other brokers can reach")
		}
	}
	switch c.Mode {
	case KafkaBroker:
		if len(c.RaftPeers) == 0 {
			return keyError("raftPeers", c.values["raftPeers"], "must list the cluster's voters (id@host:port,...) for kafka-broker")
		}
		var self *Peer
		addrs := map[string]int32{}
		for i, p := range c.RaftPeers {
			if p.ID == c.RaftNodeID {
				self = &c.RaftPeers[i]
			}
			if other, dup := addrs[p.Address]; dup {
				return keyError("raftPeers", c.values["raftPeers"], fmt.Sprintf("peers %d and %d share address %s", other, p.ID, p.Address))
			}
			addrs[p.Address] = p.ID
		}
		if self == nil {
			return keyError("raftPeers", c.values["raftPeers"], fmt.Sprintf("must include this broker (raftNodeId %d)", c.RaftNodeID))
		}
		// The other voters dial this broker at its raftPeers address, so
		// that is its advertised Raft address.
		if c.RaftAdvertisedAddress == "" {
			c.RaftAdvertisedAddress = self.Address
		} else if c.RaftAdvertisedAddress != self.Address {
			return keyError("raftAdvertisedAddress", c.RaftAdvertisedAddress,
				fmt.Sprintf("must equal this broker's entry in raftPeers (%s), the address the other voters dial", self))
		}
		if c.BrokerServiceURL == "" {
			return keyError("brokerServiceUrl", "", "must be set for kafka-broker: the brokers of a cluster share their data through Pulsar (pulsar://host:6650)")
		}
	default:
		if strings.TrimSpace(c.values["raftPeers"]) != "" {
			logger.Warn("ignoring raftPeers: standalone is its own single-voter Raft group", "raftPeers", c.values["raftPeers"])
		}
		c.RaftPeers = nil
		if c.RaftAdvertisedAddress == "" {
			c.RaftAdvertisedAddress = net.JoinHostPort(advertisableHost(bindHost), strconv.Itoa(bindPort))
		}
	}
	c.values["raftAdvertisedAddress"] = c.RaftAdvertisedAddress

	// No two servers of this broker on one port.
	type bound struct{ key, host string }
	ports := map[int][]bound{}
	claim := func(k, host string, port int) error {
		if port == 0 {
			return nil
		}
		for _, b := range ports[port] {
			if b.host == host || isWildcard(b.host) || isWildcard(host) {
				return keyError(k, c.values[k], fmt.Sprintf("port %d is also used by %s", port, b.key))
			}
		}
		ports[port] = append(ports[port], bound{k, host})
		return nil
	}
	for _, l := range c.KafkaListeners {
		if err := claim("kafkaListeners", l.Host, l.Port); err != nil {
			return err
		}
	}
	if err := claim("raftBindAddress", bindHost, bindPort); err != nil {
		return err
	}
	if c.HTTPAddress != "" {
		h, p, _ := splitHostPort(c.HTTPAddress, true)
		if err := claim("httpAddress", h, p); err != nil {
			return err
		}
	}

	if c.BrokerServiceURL != "" && c.WebServiceURL == "" {
		return keyError("webServiceUrl", "", "must be set with brokerServiceUrl: KOP creates and deletes Pulsar topics through the admin API (http://host:8080)")
	}
	if c.GroupMinSessionTimeoutMs > c.GroupMaxSessionTimeoutMs {
		return keyError("groupMinSessionTimeoutMs", c.values["groupMinSessionTimeoutMs"],
			fmt.Sprintf("must not exceed groupMaxSessionTimeoutMs (%d)", c.GroupMaxSessionTimeoutMs))
	}
	return nil
}

func joinListeners(ls []Listener) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.String()
	}
	return strings.Join(s, ",")
}

func joinNames(ls []Listener) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = l.Name
	}
	return strings.Join(s, ",")
}

// advertisableHost replaces a wildcard bind address by the host name.
func advertisableHost(h string) string {
	if isWildcard(h) {
		if name, err := os.Hostname(); err == nil && name != "" {
			return name
		}
		return "127.0.0.1"
	}
	return h
}
