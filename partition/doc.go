// Package partition owns the partitions this broker leads: it opens their
// logs through a storage.Backend, serialises appends to each, enforces
// idempotent-producer sequence rules, and lets fetches wait for new data.
//
// A produced batch goes kafkaapi (00_produce.go) → Manager.Get →
// Partition.Append → storage.PartitionLog.Append (storage/disklog or
// pulsarbridge).
//
// It must not speak the Kafka protocol (that is kafkaapi) nor decide who
// leads a partition (that is raftmeta); it is told, and opens or closes logs
// accordingly.
package partition
