// Package scope names things per tenant: it maps the Kafka names a client
// uses (topics, consumer groups, transactional ids) to the names KOP keeps
// in Raft and storage, qualified by the Pulsar namespace the client's
// credentials select, and back.
//
// A client authenticated with a Pulsar token whose user name is a tenant
// (or tenant/namespace) works in that namespace; every other client works
// in the default one (kafkaTenant/kafkaNamespace). Names in the default
// namespace are stored as the client sent them, so data written before
// tenancy existed keeps its names. The mapping is injective per namespace
// and the namespaces' images are disjoint, so two tenants' names never
// meet:
//
//   - topic T in namespace t/n is "t/n/T" (T never holds '/': Kafka topic
//     names cannot), and maps to the Pulsar topic persistent://t/n/T;
//   - group or transactional id G in t/n is "t/n\x00G";
//   - a name no namespace can own (a topic holding '/' or NUL, a default
//     namespace id holding NUL) is kept with a leading NUL, a name that
//     never exists and cannot be created.
//
// It must not know the Kafka protocol or any storage backend; it holds the
// one definition of a legal topic name for both.
package scope
