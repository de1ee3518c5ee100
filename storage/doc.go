// Package storage is the seam between the Kafka protocol and where the data
// lives: the PartitionLog interface every backend implements (the embedded
// log in storage/disklog, the Pulsar log in pulsarbridge), the optional
// ones some do (AsyncAppender, RegionReader, Compactor), the errors they
// share, and the topic configs they act on (names, defaults, validation).
//
// It must not know the Kafka wire protocol beyond the record batch bytes it
// stores, nor anything of a particular backend.
package storage
