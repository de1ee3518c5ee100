package recordbatch

import "errors"

// Sentinel errors; returned wrapped ("%w: detail"), test with errors.Is.
var (
	// ErrCorruptMessage: the bytes are not a well-formed batch (CRC
	// mismatch, impossible lengths, truncation, undecodable compression).
	ErrCorruptMessage = errors.New("recordbatch: corrupt message")
	// ErrInvalidRecord: the batch is well formed but not acceptable (record
	// count inconsistent with the header or the records, no records, a
	// control batch from a client, ...).
	ErrInvalidRecord = errors.New("recordbatch: invalid record")
	// ErrUnsupportedMagic: the batch is not magic 2.
	ErrUnsupportedMagic = errors.New("recordbatch: unsupported message format (magic)")
	// ErrUnsupportedCompression: the attributes name a codec id above 4.
	ErrUnsupportedCompression = errors.New("recordbatch: unsupported compression type")
	// ErrDecompressedTooLarge: decompressing the records would exceed the
	// caller's limit.
	ErrDecompressedTooLarge = errors.New("recordbatch: decompressed records exceed limit")
)
