package kafkaapi

import (
	"encoding/binary"
	"errors"
)

// header is a decoded request header (v0–v2).
type header struct {
	key           int16
	version       int16
	correlationID int32
	clientID      *string
}

var errShortHeader = errors.New("request header truncated")

// parseHeader decodes the fixed part of a request header (api key, version,
// correlation id, nullable client id) and returns the rest of the frame,
// which starts with the header's tag buffer for flexible requests.
func parseHeader(b []byte) (header, []byte, error) {
	var h header
	if len(b) < 8 {
		return h, nil, errShortHeader
	}
	h.key = int16(binary.BigEndian.Uint16(b))
	h.version = int16(binary.BigEndian.Uint16(b[2:]))
	h.correlationID = int32(binary.BigEndian.Uint32(b[4:]))
	b = b[8:]
	if len(b) < 2 {
		return h, nil, errShortHeader
	}
	n := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	switch {
	case n == -1:
	case n < -1 || int(n) > len(b):
		return h, nil, errors.New("request header client id length invalid")
	default:
		s := string(b[:n])
		h.clientID = &s
		b = b[n:]
	}
	return h, b, nil
}

// skipTags skips a tagged-field buffer (KIP-482): a uvarint count, then per
// field a uvarint tag, a uvarint size and that many bytes.
func skipTags(b []byte) ([]byte, error) {
	n, b, err := uvarint(b)
	if err != nil {
		return nil, err
	}
	for i := uint64(0); i < n; i++ {
		if _, b, err = uvarint(b); err != nil {
			return nil, err
		}
		var size uint64
		if size, b, err = uvarint(b); err != nil {
			return nil, err
		}
		if size > uint64(len(b)) {
			return nil, errors.New("tagged field overruns request")
		}
		b = b[size:]
	}
	return b, nil
}

func uvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || n > 5 {
		return 0, nil, errors.New("bad uvarint in request header")
	}
	return v, b[n:], nil
}
