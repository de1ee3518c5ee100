// Package recordbatch parses and validates Kafka v2 RecordBatches (magic 2),
// the only message format KOP accepts and stores.
//
// It owns the byte layout of a batch: the 61-byte header ([Header],
// [ParseHeader], [PeekHeader]), its CRC-32C ([VerifyCRC], [UpdateCRC]), the
// in-place rewrites a broker makes ([SetBaseOffset],
// [SetPartitionLeaderEpoch], [SetLogAppendTime]), the validation of a produce
// request's records field ([Split]), walking stored batches ([Iterate],
// [IterateVerified], [WholeBatches]) and decoding the records inside a batch,
// compressed or not ([DecodeRecords]).
//
// Errors are the sentinel values below, wrapped with detail; the Kafka
// protocol layer maps them to error codes:
//
//	ErrCorruptMessage         CORRUPT_MESSAGE (CRC, bad lengths, truncation)
//	ErrInvalidRecord          INVALID_RECORD (count mismatch, empty batch, ...)
//	ErrUnsupportedMagic       UNSUPPORTED_FOR_MESSAGE_FORMAT
//	ErrUnsupportedCompression UNSUPPORTED_COMPRESSION_TYPE
//	ErrDecompressedTooLarge   the caller's limit; e.g. RECORD_LIST_TOO_LARGE
//
// The package must not know about partitions, offsets assignment, storage or
// the network, must not keep state between calls, and must never panic or
// allocate without bound on hostile input: every length read from the wire
// is checked against the bytes actually present, and decompression is
// capped by the caller.
package recordbatch
