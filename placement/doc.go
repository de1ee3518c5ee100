// Package placement decides which broker leads each partition of a topic:
// new topics are placed with it (kafkaapi's CreateTopics, CreatePartitions
// and auto-creation), and partitions moved off a lost broker or back to
// their preferred leader (node's failover) too, so both agree by
// construction.
//
// It owns only the arithmetic of placement; it must not read the cluster
// state (callers pass the brokers) nor write it (that is raftmeta).
package placement
