package kafkaapi

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kop-project/kop/partition"
	"github.com/kop-project/kop/raftmeta"
	"github.com/kop-project/kop/recordbatch"
	"github.com/kop-project/kop/storage"
)

// errorCode maps an error from the layers below to the Kafka error code a
// client acts on. Unavailable backends and lost leadership map to retriable
// codes so clients refresh metadata and retry by themselves.
func errorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, storage.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, storage.ErrClosed), errors.Is(err, storage.ErrFenced), errors.Is(err, raftmeta.ErrNotLeader):
		return kerr.NotLeaderForPartition.Code
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, storage.ErrIO), errors.Is(err, raftmeta.ErrPrepareFailed), errors.Is(err, raftmeta.ErrStorage):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, storage.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, recordbatch.ErrCorruptMessage):
		return kerr.CorruptMessage.Code
	case errors.Is(err, recordbatch.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, recordbatch.ErrUnsupportedMagic):
		// As Kafka for Produce v3+: only magic 2 batches are valid records.
		return kerr.InvalidRecord.Code
	case errors.Is(err, recordbatch.ErrUnsupportedCompression):
		return kerr.UnsupportedCompressionType.Code
	case errors.Is(err, storage.ErrMessageTooLarge), errors.Is(err, recordbatch.ErrDecompressedTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, partition.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, partition.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, partition.ErrUnknownProducerID):
		return kerr.UnknownProducerID.Code
	case errors.Is(err, raftmeta.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, raftmeta.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, raftmeta.ErrInvalidTopic):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, raftmeta.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	case errors.Is(err, context.Canceled):
		return kerr.RequestTimedOut.Code
	default:
		return kerr.UnknownServerError.Code
	}
}

// errMessage returns a message for response fields that carry one.
func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
