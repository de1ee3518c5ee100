// Package pulsarbridge will implement storage.Backend on Apache Pulsar with
// pulsar-client-go and its pulsaradmin: Kafka topic T as the partitioned
// topic persistent://{kafkaTenant}/{kafkaNamespace}/T, one fenced writer per
// partition, dense offsets written into each entry, and the storage
// conformance suite (storage/storagetest) passing against a real Pulsar.
//
// It must not speak the Kafka protocol nor decide partition leadership.
package pulsarbridge
