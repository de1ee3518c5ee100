// Package node runs one KOP broker process: it opens the Raft metadata
// store, registers the broker, opens the storage backend, serves the Kafka
// protocol on the configured listeners and the admin endpoint (/metrics,
// /healthz, /readyz) over HTTP, keeps the open partitions in step with the
// metadata, moves the partitions of a broker the Raft leader has lost to
// the others (failover.go: the policy; raftmeta only reports which voters
// are unreachable), and shuts all of it down in order.
//
// It wires; it must not implement protocol handlers, storage or consensus
// itself.
package node
