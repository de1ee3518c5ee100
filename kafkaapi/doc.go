// Package kafkaapi serves the Kafka wire protocol: it accepts connections,
// reads request frames, decodes them with franz-go's kmsg, dispatches each
// to the handler of its API key and writes the responses back in order.
//
// One file per API key, named by the key number (00_produce.go,
// 01_fetch.go, …); registry.go lists them, and ApiVersions advertises
// exactly that list. A produced batch goes 00_produce.go →
// partition.Partition.AppendAsync → the storage backend.
//
// A connection has three goroutines: the reader (frames, bounded by
// MaxRequestBytes and MaxInFlight), the worker, which executes requests
// one after another, and the writer, which sends the responses in request
// order. Produce is pipelined: the worker starts its appends and goes on
// to the next request, and the response is completed (request.finish)
// once the storage has acknowledged them, so several produce requests of
// one connection are stored in flight together. Any other request waits
// until the produce requests before it are complete.
//
// Fetch responses are not re-encoded around their records
// (fetchframe.go): the frame is cut where each partition's records go and
// the writer sends them in between, from the storage's read buffer, or,
// on a plain TCP connection, from the embedded log's segment file with
// sendfile(2) (storage.RegionReader).
//
// With tenancy (scope.go), a client that logged in with a Pulsar token
// works in its tenant's namespace: the worker rewrites the names of each
// decoded request to the stored, namespace-qualified names before the
// handler runs, and the response's back (dropping other namespaces'
// entries from listings), so handlers only ever see stored names.
//
// It must not hold cluster metadata (raftmeta does, behind the Metadata
// interface), store records (partition and storage do), or run group
// membership (coordinator does); it translates between the wire and those
// packages, and maps their errors to Kafka error codes (errors.go).
package kafkaapi
