// Package node runs one KOP broker process: it opens the storage backend
// and the Raft metadata store (the Raft leader gives a topic its shape in
// the backend before it commits it: prepareTopic), registers the broker,
// serves the Kafka protocol on the configured listeners and the admin
// endpoint (/metrics, /healthz, /readyz) over HTTP, keeps the open
// partitions in step with the metadata (opening those that move here
// ahead of their clients), steers partition leadership in a cluster
// (failover.go: failover off lost brokers, the broker lease, rebalancing
// to preferred leaders, the handover of a graceful shutdown; raftmeta only
// reports which voters are unreachable and whether this node holds its
// lease), and shuts all of it down in order.
//
// It wires; it must not implement protocol handlers, storage or consensus
// itself.
package node
