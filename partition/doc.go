// Package partition owns the partitions this broker leads: it opens their
// logs through a storage.Backend, serialises appends to each, enforces
// idempotent-producer sequence rules, and lets fetches wait for new data.
//
// A produced batch goes kafkaapi (00_produce.go) → Manager.Get →
// Partition.AppendAsync → storage.AsyncAppender.AppendAsync (both
// backends: the embedded log's group commit, pulsarbridge's pipelined
// sends; a log without it gets a plain Append), which returns once
// the batch has its offsets and is being stored; the Pending it returns
// completes when the storage acknowledged it. Appends of one partition
// are acknowledged in the order they were started. After a failed
// asynchronous append the partition settles the log (storage.ErrNeedsSettle:
// the rest in flight finish or fail, the tail is re-read) and rebuilds its
// idempotent-producer state from what was stored before it takes the next
// append, so a retried batch is neither lost nor stored twice.
//
// Transactions: a partition tracks the open transaction of each producer
// (its first offset) as batches are appended and markers
// (WriteMarker) close them; the smallest first offset is the last
// stable offset that read_committed fetches stop at. Aborted
// transactions are recorded in an TxnIndex (Raft, through the node)
// once their marker is stored, and loaded with the aborts found in the
// log's tail when the partition opens.
//
// A partition's append lock is held while an append waits for room in
// the log's in-flight window or while the log settles, so nothing but
// appends takes it: the leader epoch and the topic config, which every
// fetch and ListOffsets reads, are atomics beside it.
//
// It must not speak the Kafka protocol (that is kafkaapi) nor decide who
// leads a partition (that is raftmeta); it is told, and opens or closes logs
// accordingly.
package partition
