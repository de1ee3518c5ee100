// Package bufpool recycles the large byte buffers of the fetch path (the
// records read from a partition, the encoded response frame), so a
// consumer streaming megabytes per request does not make the runtime
// allocate and zero them each time.
//
// It holds no global pool: each owner (a storage backend, the protocol
// server) keeps its own Pool. It must not hand out a buffer twice: a
// buffer given to Put belongs to the pool, and its former holder must
// not touch it again.
package bufpool
