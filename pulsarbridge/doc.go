// Package pulsarbridge implements storage.Backend on Apache Pulsar with
// pulsar-client-go and its pulsaradmin. Kafka topic T is the partitioned
// topic persistent://{kafkaTenant}/{kafkaNamespace}/T, and a tenant's T
// (stored as tenant/namespace/T, package scope) is persistent://tenant/
// namespace/T; Kafka partition p is its topic T-partition-p. Namespaces
// are created when missing, kafkaTenant too (with infinite Pulsar
// retention: Pulsar must not drop entries just because no subscription
// holds them). Permissions reads Pulsar's grants for token logins.
//
// # Offsets
//
// The partition's leader assigns offsets and writes them into each entry:
// with entryFormat=kafka an entry is the client's RecordBatch with only
// baseOffset and partitionLeaderEpoch rewritten (the CRC does not cover
// them), so produce and fetch do no per-record work. Offsets are dense and
// nothing acknowledged is renumbered: after a failed send the end offset
// is read back from the last stored entry before the next append, and a
// new leader reads it from the last entry on open.
//
// We chose this over Pulsar's AppendIndexMetadataInterceptor (broker
// entry metadata, Message.Index() in the Go client), which KoP uses: the
// interceptor needs a broker setting on every Pulsar cluster, does not
// return the index with the send receipt (so the produce answer would need
// another read), and gives offsets to entries of native Pulsar producers
// that Kafka clients could not parse anyway.
//
// Locating an offset: appends (and recovery) feed an in-memory sparse
// index offset → MessageID, one point per 256 KiB; an offset older than
// the index is found by binary search over the topic's entries, the
// ledger list and entry counts coming from the admin API's internal
// stats, one entry read per probe — O(log n), never a scan. Sequential
// consumers reuse cached readers left at the next offset, so they pay no
// seek per fetch.
//
// # Topic shape
//
// A topic's partitioned topic is created and grown by EnsureTopic alone,
// which the Raft leader calls before it commits the topic's creation or
// growth (raftmeta's PrepareTopic), so there is one writer of the shape
// and every partition exists before any broker opens it. Open never
// creates or grows anything: a partition Pulsar does not have yet is
// ErrUnavailable (the client retries). Topic auto-creation is turned off
// in KOP's namespace, because a producer or reader on T-partition-N made
// before T had N+1 partitions would create a stray non-partitioned topic
// of that name, which then blocks growing T; EnsureTopic deletes an empty
// stray it finds in the way and names one that holds data.
//
// # Writers
//
// One writer per partition: the log holds an exclusive Pulsar producer
// (ProducerAccessModeExclusive), and appends with a leader epoch older than
// the log's are refused. Opening a partition is taking it over: the caller
// opens it because Raft named this broker its leader, so when another
// producer still holds it (a broker frozen, cut off from Raft, or just
// releasing it), Open unloads the topic through the admin API, which
// closes every producer on it, and creates its own exclusive producer
// before the old one can reconnect; the old producer's reconnection is
// then refused with ProducerFenced, which stops pulsar-client-go from
// retrying, so the old broker can never write again. Its sends still in
// flight fail, and nothing it sent after the unload is stored; what Pulsar
// stored before is read back by the new leader's recovery, which runs
// after it holds the producer. Before it unloads anything, Open asks
// Options.ConfirmTakeover (the node syncs with the Raft group and checks
// that it leads the partition): a broker thawed after a freeze hears from
// the Raft leader again before it has applied the moves made meanwhile,
// and would otherwise take the partition back from its new leader. A log
// whose producer was forced off stays fenced: every append and Settle
// answer ErrFenced and it never reconnects (a repair that found the topic
// free would write as a stale leader), so the partition is closed and
// opened afresh only where it is still led. Repairing after a failed send
// never takes over.
//
// Reads check that each entry starts where the one before ended: an entry
// after a hole (a reader's reconnection or a wrong index point) is never
// returned, since a Kafka client would skip the missing offsets silently;
// the read starts again from a position searched in Pulsar.
//
// We chose the unload over the alternatives: Pulsar's ExclusiveWithFencing
// access mode does the same in one step but pulsar-client-go (v0.19) does
// not offer it; WaitForExclusive waits for the old producer to go, which a
// frozen broker's never does until Pulsar's keep-alive drops it (about
// 30 s or more); and a lease checked before every send cannot stop sends
// already queued in a frozen process's producer. The lease is there too,
// one level up: a broker out of touch with the Raft group stops accepting
// produce and closes its partitions before the Raft leader moves them
// (node), so a live but cut-off broker gives its producers up by itself.
//
// The log start offset set by DeleteRecords and the leader-epoch history
// are stored as properties of the partition's Pulsar topic; a new epoch is
// stored before any entry carrying it.
//
// Producers and readers reconnect with a backoff capped at one second
// (pulsar-client-go's default grows to a minute), so a partition is
// writable again about a second after Pulsar returns.
//
// # Sending
//
// Appends are pipelined (append.go, storage.AsyncAppender): AppendAsync
// gives the batch its offsets, hands it to the producer's SendAsync and
// returns; receipts complete the appends in order, and up to 32 MiB or
// 1000 messages are in flight per partition. The producer has no send
// timeout, because pulsar-client-go times out only the oldest messages of
// its queue and would leave holes in the offsets; sends live as long as
// the log, not the request. When a send fails the log refuses new appends
// (storage.ErrNeedsSettle) until Settle: it waits for the rest in flight
// (closing the producer after a grace period if Pulsar is gone), reopens
// it, and reads the end offset back from the last stored entry, so
// offsets continue densely after whatever Pulsar did store. A Kafka
// produce is acknowledged (acks=1 or all: Pulsar's receipt means the
// entry is persisted on its write quorum) only when its receipt, and all
// receipts before it, have arrived.
//
// It must not speak the Kafka protocol nor decide partition leadership
// (Raft does); it maps Pulsar failures to storage.ErrUnavailable, which
// the protocol layer answers with retriable Kafka errors.
//
// # Entry formats
//
// entryFormat=kafka (default): one entry per Kafka batch, as above.
// entryFormat=pulsar (per topic: kop.entry.format): one Pulsar message per
// Kafka record, so native Pulsar consumers read what Kafka producers wrote
// (pulsarformat.go: key, value, headers as properties, timestamp as event
// time; KOP's offsets in kop.* properties). Compressed Kafka batches are
// decoded (gzip, snappy, lz4, zstd) and fetches get rebuilt, uncompressed
// batches. Reads handle both formats in one partition, so a topic can
// change format.
//
// # Retention
//
// Kafka's retention.ms and retention.bytes become the Pulsar topic's
// retention policy (topic-level policies), and each open partition
// re-reads its first retained entry at the retention check interval, so
// the log start offset follows what Pulsar removed. DeleteRecords only
// moves the log start: Pulsar cannot drop part of a ledger.
//
// # Compacted topics
//
// A compacted partition (cleanup.policy=compact) is cleaned by its leader
// (compact.go), with the rules of storage/compaction, which the embedded
// log uses too. The cleaned part, offsets [start, compactedTo), lives in a
// side topic, "<partition topic>=kop-compacted-<nanos>" ('=' cannot occur
// in a Kafka topic name), of Kafka batches holding only the survivors at
// their offsets; reads below compactedTo are served from it, reads from
// compactedTo on from the partition's topic as before. A pass (every
// CleanerBackoff when the dirty part reached min.cleanable.dirty.ratio of
// the records, or max.compaction.lag.ms passed; or Compact) maps the keys
// of the dirty part, writes a new side topic from the current one and the
// dirty part, and commits by one update of the partition topic's
// properties (kop.compactedTopic, kop.compactedTo, …); then it deletes the
// old side topic. A broker or Pulsar dying mid-pass leaves the properties
// naming the old, complete side topic: nothing is lost, and the new one's
// remains are deleted by a later pass once older than 30 minutes.
//
// We weighed Pulsar's own topic compaction (a compacted ledger read with
// ReadCompacted) and chose against it: it keys by Pulsar message, so every
// record would need its own entry (entryFormat=pulsar's speed and size for
// every compacted topic), it drops a tombstone at once instead of after
// delete.retention.ms, an empty Kafka value (not null) would delete its
// key, and the compacted ledger's entries would break the offset search
// and the batch reassembly this package relies on. The side topic keeps
// the partition's topic untouched for native Pulsar consumers and gives
// both backends one set of rules. Its cost: the survivors are copied at
// every pass.
//
// The cleaned entries of the partition's own topic are given back to
// Pulsar when the topic is compacted without delete: such a partition
// holds a durable subscription, "kop-compaction", created at its first
// entry before the topic's retention is set to 0, and each pass moves it
// to the entry holding the cleaned offset; Pulsar then deletes the
// ledgers before it (at its retention check, once the deduplication
// cursor's snapshot has passed them too). The log start then comes from
// the stored start, not from the first entry left. Native Pulsar consumers
// of such a topic see the entries from the cleaned offset on. With
// cleanup.policy=compact,delete the topic keeps its Kafka retention and no
// subscription, and the cleaned part below what retention kept is out of
// range, as in Kafka. ListOffsets by timestamp searches the partition's
// topic, so it does not find cleaned survivors older than its first entry.
//
// Timestamps: Pulsar's publish time of each entry (when KOP sent it)
// serves as the time index. OffsetForTimestamp binary-searches it for the
// last entry published more than a minute before the wanted time and
// reads batches from there, so it misses only records whose timestamp is
// more than a minute after KOP stored them.
package pulsarbridge
