// Package e2e holds KOP's end-to-end tests: they build bin/kop, start real
// brokers as separate processes on free loopback ports, and drive them with
// real Kafka clients over real sockets (franz-go, kcat, Python's
// confluent-kafka), killing and restarting the brokers where a test needs
// to. Each broker is stopped by its process id when its test ends.
//
// It must not reach into the broker's packages (test helpers such as
// recordbatch/batchtest aside): what it knows of KOP is the binary, its
// configuration keys and the Kafka protocol.
package e2e
