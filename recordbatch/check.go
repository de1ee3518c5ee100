package recordbatch

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// CheckRecords validates the records of a compressed batch raw (header
// included) without holding them: it decompresses as a stream, walks the
// records' length prefixes and checks there are exactly the header's
// count, failing with ErrDecompressedTooLarge as soon as more than
// maxBytes come out (a compression bomb costs at most one read buffer)
// and with ErrCorruptMessage when the data is not a record list. An
// uncompressed batch is ValidateProduce's to check; here it passes.
func CheckRecords(raw []byte, maxBytes int) error {
	h, err := ParseHeader(raw)
	if err != nil {
		return err
	}
	data := raw[HeaderSize:h.Size()]
	var r io.Reader
	switch h.Compression() {
	case CompressionNone:
		return nil
	case CompressionGzip:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("%w: gzip: %v", ErrCorruptMessage, err)
		}
		defer zr.Close()
		r = zr
	case CompressionLZ4:
		r = lz4.NewReader(bytes.NewReader(data))
	case CompressionZstd:
		zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(uint64(max(min(maxBytes, 64<<20), 8<<20))))
		if err != nil {
			return fmt.Errorf("recordbatch: zstd decoder: %w", err)
		}
		defer zr.Close()
		r = zr
	case CompressionSnappy:
		// A snappy block is decoded whole; unsnappy checks each
		// block's declared size against maxBytes first.
		out, err := unsnappy(data, maxBytes)
		if err != nil {
			return err
		}
		r = bytes.NewReader(out)
	default:
		return fmt.Errorf("%w: codec id %d", ErrUnsupportedCompression, h.Compression())
	}
	n, err := countStream(r, maxBytes)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) {
		// A window larger than the records may be is a bomb's.
		return fmt.Errorf("%w: zstd window over %d bytes", ErrDecompressedTooLarge, max(min(maxBytes, 64<<20), 8<<20))
	}
	if err != nil {
		return fmt.Errorf("batch of %d records: %w", h.RecordCount, err)
	}
	if n != int(h.RecordCount) {
		return fmt.Errorf("%w: header says %d records, batch holds %d", ErrInvalidRecord, h.RecordCount, n)
	}
	return nil
}

// countStream counts the length-prefixed records in r, reading at most
// maxBytes of it.
func countStream(r io.Reader, maxBytes int) (int, error) {
	lr := &io.LimitedReader{R: r, N: int64(maxBytes) + 1}
	br := bufio.NewReaderSize(lr, 32<<10)
	n := 0
	for {
		l, err := binary.ReadVarint(br)
		switch {
		case errors.Is(err, io.EOF) && lr.N > 0:
			return n, nil // the data ended after a whole record
		case lr.N <= 0:
			return n, fmt.Errorf("%w: records over %d bytes", ErrDecompressedTooLarge, maxBytes)
		case errors.Is(err, zstd.ErrWindowSizeExceeded):
			return n, err
		case err != nil:
			return n, fmt.Errorf("%w: record %d: length: %v", ErrCorruptMessage, n, err)
		case l < minRecordSize:
			return n, fmt.Errorf("%w: record %d claims %d bytes", ErrCorruptMessage, n, l)
		}
		skipped, err := br.Discard(int(min(l, int64(maxBytes)+1)))
		switch {
		case lr.N <= 0 && br.Buffered() == 0:
			return n, fmt.Errorf("%w: records over %d bytes", ErrDecompressedTooLarge, maxBytes)
		case err != nil || int64(skipped) != l:
			return n, fmt.Errorf("%w: record %d claims %d bytes, %d left", ErrCorruptMessage, n, l, skipped)
		}
		n++
	}
}
