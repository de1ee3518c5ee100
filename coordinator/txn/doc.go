// Package txn is KOP's transaction coordinator: Kafka's transactional
// producer protocol (InitProducerId with a transactional id,
// AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn) with the
// semantics of Apache Kafka's TransactionCoordinator: producer epochs that
// fence zombies, the states Empty, Ongoing, PrepareCommit, PrepareAbort,
// CompleteCommit and CompleteAbort, and transactions that time out and are
// aborted.
//
// # Where transactions are coordinated
//
// Like consumer groups (package coordinator), every transactional id is
// coordinated by the Raft leader of the metadata group: the durable record
// of a transaction is a raftmeta.Txn written through Raft, so a new leader
// takes over every transaction from its replicated state and finishes the
// ones left between Prepare and Complete. Other brokers answer
// NOT_COORDINATOR.
//
// # Ending a transaction
//
// EndTxn writes PrepareCommit (or PrepareAbort) to Raft, which decides the
// outcome; then the transaction's markers (control batches) are written
// to every partition it touched through Markers, and CompleteCommit
// (CompleteAbort) is written, which also makes the offsets it committed
// for consumer groups visible (or drops them). Unlike Kafka, EndTxn
// answers after the markers are written rather than after Prepare: the
// producer's next transaction can then start at once instead of retrying
// on CONCURRENT_TRANSACTIONS. A marker write that fails leaves the
// transaction in Prepare; the client's retried EndTxn, or the background
// loop, finishes it.
//
// # Concurrency
//
// No lock is held across a Raft write or a marker write. Each change is a
// compare-and-set on the transaction's version (raftmeta.ErrTxnConflict),
// and an in-memory busy set keeps two operations on one transactional id
// from running at once (the second gets CONCURRENT_TRANSACTIONS, which
// clients retry).
//
// It must not read or write partition logs itself: markers go through the
// Markers interface, which the node implements over the partition leaders.
package txn
