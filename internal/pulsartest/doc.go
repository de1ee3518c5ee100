package pulsartest

// This package owns starting and stopping the Pulsars that tests and the
// benchmark (cmd/kopbench, which compares KOP on Pulsar with Pulsar's own
// client) run against; the broker must not import it.
