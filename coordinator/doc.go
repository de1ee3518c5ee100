// Package coordinator is KOP's group coordinator: Kafka's classic group
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
// OffsetFetch, DescribeGroups, ListGroups, DeleteGroups, OffsetDelete),
// with Apache Kafka's GroupCoordinator/GroupMetadata semantics: the states
// Empty, PreparingRebalance, CompletingRebalance, Stable and Dead, the
// initial rebalance delay, session and rebalance timeouts, member ids
// assigned before the first join (KIP-394), static membership (KIP-345) and
// protocol selection by vote among the protocols every member supports.
//
// # Where groups are coordinated
//
// Every group is coordinated by the broker that is the Raft leader of the
// metadata group. Kafka spreads groups over the leaders of the partitions
// of __consumer_offsets because each coordinator writes its group's state
// to a log it leads; in KOP the durable record of a group (its metadata
// and committed offsets) is a Raft command, and only the Raft leader
// applies commands without forwarding them. Coordinating on the leader
// therefore costs one Raft round trip per write and no extra hop, keeps a
// single writer per group by construction (Raft's leader is unique per
// term), and makes failover Raft's leader election: the new leader loads
// the groups from its replicated state. FindCoordinator answers the Raft
// leader; other brokers answer NOT_COORDINATOR to group requests. A broker
// that has just become leader answers COORDINATOR_LOAD_IN_PROGRESS until
// it has applied the log (a Raft barrier) and loaded the groups; one that
// loses leadership drops its in-memory groups at once.
//
// # What is durable
//
// Committed offsets (with metadata and commit time) are written through
// Raft before OffsetCommit answers. Group metadata (generation, protocol,
// leader, members, assignments) is written when a group becomes Stable
// (the leader's SyncGroup) or Empty, as Kafka does, so a restarted
// coordinator brings a stable group back with its member ids and
// generation; members' session timers start afresh. Offsets of empty
// groups expire after the retention (Store.ExpireOffsets, run periodically
// by the leader).
//
// # Locking
//
// Each group has its own lock and the coordinator a small one for its
// status and map of groups; no lock is held while a Raft write is waited
// for. A write is decided under the group's lock, made after it is
// released (a group's writes in the order decided), and its result
// applied under the lock again only if the group is still as it was
// written (state, generation, member); so one slow write stalls no other
// group, nor its own group's heartbeats. See Coordinator for the details.
//
// The package does not encode or decode the wire protocol: kafkaapi
// decodes requests and passes the decoded kmsg structures here, and this
// package fills in kmsg responses.
package coordinator
