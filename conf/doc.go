// Package conf defines KOP's configuration keys, their defaults per mode,
// and loads and validates them.
//
// Load reads, in this order, later wins (koanf):
//
//  1. the built-in defaults of the mode (standalone or kafka-broker);
//  2. a Pulsar/KoP-style Java properties file: --config FILE, else
//     conf/kop_standalone.conf or conf/kop.conf when it exists relative to
//     the working directory (see Properties for the format);
//  3. KOP_<KEY> environment variables, matched to the keys ignoring case and
//     underscores (KOP_KAFKA_LISTENERS, KOP_KAFKALISTENERS, KOP_kafkaListeners);
//  4. --<key>=<value> command-line flags (pflag), parsed here so the CLI
//     hands over the arguments that follow its subcommand.
//
// Keys are camelCase, as in Pulsar and KoP. Unknown keys in the file and
// unknown KOP_ variables are logged as warnings and ignored, so existing
// Pulsar and KoP files load. A bad value (unparseable, out of range, a bad
// listener, URL or enum, or a broken rule between keys) refuses to start:
// Load returns a *KeyError naming the key, the reason, the value and where
// it was set, and reports every refused value at once.
//
// Config holds the typed values; Config.Entries lists every key with its
// effective value, default, source and documentation, for DescribeConfigs
// and `kop help`. Derived values (advertised addresses) are filled in.
//
// Two choices worth knowing:
//   - In kafka-broker mode the Raft advertised address defaults to this
//     broker's own entry in raftPeers, and must equal it when set: that
//     entry is the address the other voters dial, and a broker advertising
//     anything else would split the cluster's view of its membership.
//   - SASL_PLAINTEXT listener names are recognised but refused until the
//     Kafka layer authenticates them, so a listener named for SASL is never
//     served without authentication.
//
// The package only reads and checks settings; it starts nothing and keeps
// no global state (the key table is read-only).
package conf
