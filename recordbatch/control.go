package recordbatch

import (
	"encoding/binary"
	"fmt"
)

// Control record types: the key of a transaction marker's one record is
// version int16 (0) | type int16.
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// Marker builds a control batch holding one commit or abort marker of the
// producer at its epoch, timestamped tsMs; its value is version int16 (0)
// | coordinatorEpoch int32, as Kafka writes it.
func Marker(producerID int64, epoch int16, commit bool, coordinatorEpoch int32, tsMs int64) []byte {
	key := make([]byte, 4)
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	binary.BigEndian.PutUint16(key[2:], uint16(typ))
	value := make([]byte, 6)
	binary.BigEndian.PutUint32(value[2:], uint32(coordinatorEpoch))
	return Encode(Fields{
		Attributes:    AttrTransactional | AttrControl,
		BaseTimestamp: tsMs, MaxTimestamp: tsMs,
		ProducerID: producerID, ProducerEpoch: epoch, BaseSequence: -1,
	}, []Record{{Key: key, Value: value}})
}

// ControlType returns the type of a control batch's record (ControlAbort,
// ControlCommit, or another a later Kafka defines).
func ControlType(raw []byte) (int16, error) {
	recs, err := DecodeRecords(raw, 1<<20)
	if err != nil {
		return -1, err
	}
	if len(recs) == 0 || len(recs[0].Key) < 4 {
		return -1, fmt.Errorf("%w: control batch without a control record key", ErrInvalidRecord)
	}
	return int16(binary.BigEndian.Uint16(recs[0].Key[2:4])), nil
}
