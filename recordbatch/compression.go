package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// xerialMagic starts a snappy payload framed the way snappy-java's
// SnappyOutputStream (used by the Java client) frames it: the magic, two
// int32 versions, then blocks of int32 length + raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// decompress returns the uncompressed records of a batch whose records
// section is data, never producing more than maxBytes.
func decompress(codec int8, data []byte, maxBytes int) ([]byte, error) {
	if maxBytes < 0 {
		maxBytes = 0
	}
	switch codec {
	case CompressionNone:
		return data, nil
	case CompressionGzip:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: gzip: %v", ErrCorruptMessage, err)
		}
		defer zr.Close()
		return readBounded(zr, "gzip", maxBytes)
	case CompressionSnappy:
		return unsnappy(data, maxBytes)
	case CompressionLZ4:
		return readBounded(lz4.NewReader(bytes.NewReader(data)), "lz4", maxBytes)
	case CompressionZstd:
		return unzstd(data, maxBytes)
	default:
		return nil, fmt.Errorf("%w: codec id %d", ErrUnsupportedCompression, codec)
	}
}

// readBounded reads r to the end, failing once more than maxBytes come out.
func readBounded(r io.Reader, codec string, maxBytes int) ([]byte, error) {
	out, err := io.ReadAll(io.LimitReader(r, int64(maxBytes)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorruptMessage, codec, err)
	}
	if len(out) > maxBytes {
		return nil, fmt.Errorf("%w: %s data over %d bytes", ErrDecompressedTooLarge, codec, maxBytes)
	}
	return out, nil
}

func unsnappy(data []byte, maxBytes int) ([]byte, error) {
	if !bytes.HasPrefix(data, xerialMagic) {
		return snappyBlock(nil, data, maxBytes)
	}
	if len(data) < xerialHeaderSize {
		return nil, fmt.Errorf("%w: snappy: truncated xerial header", ErrCorruptMessage)
	}
	var out []byte
	for p := data[xerialHeaderSize:]; len(p) > 0; {
		if len(p) < 4 {
			return nil, fmt.Errorf("%w: snappy: truncated xerial block length", ErrCorruptMessage)
		}
		n := binary.BigEndian.Uint32(p)
		p = p[4:]
		if uint64(n) > uint64(len(p)) {
			return nil, fmt.Errorf("%w: snappy: xerial block of %d bytes, %d left", ErrCorruptMessage, n, len(p))
		}
		var err error
		if out, err = snappyBlock(out, p[:n], maxBytes); err != nil {
			return nil, err
		}
		p = p[n:]
	}
	return out, nil
}

// snappyBlock appends the decoded raw snappy block to out, checking the
// block's declared size against what maxBytes leaves before decoding.
func snappyBlock(out, block []byte, maxBytes int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrCorruptMessage, err)
	}
	if n > maxBytes-len(out) {
		return nil, fmt.Errorf("%w: snappy data over %d bytes", ErrDecompressedTooLarge, maxBytes)
	}
	start := len(out)
	out = slices.Grow(out, n)[:start+n]
	dec, err := snappy.Decode(out[start:], block)
	if err != nil {
		return nil, fmt.Errorf("%w: snappy: %v", ErrCorruptMessage, err)
	}
	if len(dec) != n || (n > 0 && &dec[0] != &out[start]) {
		// Decode wrote elsewhere only if the block lied about its size,
		// which DecodedLen already read; treat as corrupt.
		return nil, fmt.Errorf("%w: snappy: block size mismatch", ErrCorruptMessage)
	}
	return out, nil
}

// unzstd decodes all zstd frames in data into at most maxBytes (plus at
// most one zstd block of slack while the decoder notices). DecodeAll uses
// the output as its history, so the frame's declared window costs no
// memory and is not limited; the output buffer's capacity is the limit.
func unzstd(data []byte, maxBytes int) ([]byte, error) {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecodeAllCapLimit(true),
	)
	if err != nil {
		return nil, fmt.Errorf("recordbatch: zstd decoder: %w", err)
	}
	defer dec.Close()
	// Start from the frame's declared size, or a guess from the ratio,
	// and fall back to the whole allowance only when the guess is short.
	guess := min(maxBytes, max(64<<10, 16*len(data)))
	var zh zstd.Header
	if zh.Decode(data) == nil && zh.HasFCS {
		if zh.FrameContentSize > uint64(maxBytes) {
			return nil, fmt.Errorf("%w: zstd frame of %d bytes over %d", ErrDecompressedTooLarge, zh.FrameContentSize, maxBytes)
		}
		guess = max(guess, int(zh.FrameContentSize))
	}
	out, err := dec.DecodeAll(data, make([]byte, 0, guess))
	if err != nil && guess < maxBytes {
		// Most likely the guess was short; the full allowance decides.
		out, err = dec.DecodeAll(data, make([]byte, 0, maxBytes))
	}
	switch {
	case err != nil && zstdOverCap(err):
		return nil, fmt.Errorf("%w: zstd data over %d bytes", ErrDecompressedTooLarge, maxBytes)
	case err != nil:
		return nil, fmt.Errorf("%w: zstd: %v", ErrCorruptMessage, err)
	case len(out) > maxBytes:
		return nil, fmt.Errorf("%w: zstd data over %d bytes", ErrDecompressedTooLarge, maxBytes)
	}
	return out, nil
}

// zstdOverCap reports whether a DecodeAll error means the output buffer's
// capacity ran out. The decoder reports that either as
// ErrDecoderSizeExceeded or, when a block's sequences hit the limit, as an
// unexported "output bigger than max block size" error.
func zstdOverCap(err error) bool {
	return errors.Is(err, zstd.ErrDecoderSizeExceeded) || strings.Contains(err.Error(), "bigger than max block size")
}
