// Package conf defines KOP's configuration keys, their defaults per mode,
// and loads them with koanf in this order, later wins: built-in defaults, a
// Pulsar/KoP-style properties file (conf/kop_standalone.conf,
// conf/kop.conf), KOP_* environment variables, then --key=value flags.
// Values are validated into a typed Config; a bad value refuses to start
// and names the key. Unknown keys in a file are warned about and ignored,
// so existing Pulsar and KoP configuration files load.
//
// It must not start anything: it only reads and checks settings.
package conf
