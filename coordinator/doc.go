// Package coordinator will hold Kafka's group coordinator (the classic
// group protocol: JoinGroup, SyncGroup, Heartbeat, LeaveGroup, offset
// commits and fetches), and later the transaction coordinator, with their
// durable state kept in Raft through raftmeta.
//
// It must not store group state anywhere but raftmeta, nor speak the wire
// protocol itself: kafkaapi decodes requests and calls it.
//
// Until it lands, FindCoordinator answers COORDINATOR_NOT_AVAILABLE.
package coordinator
