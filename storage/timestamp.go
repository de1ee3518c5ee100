package storage

import (
	"context"
	"fmt"

	"github.com/kop-project/kop/recordbatch"
)

// maxTimestampScan bounds how far RecordForTimestamp reads past the batch
// OffsetForTimestamp found: normally the record is in that batch, but a
// cleaned batch keeps its header's maxTimestamp after the record that had
// it was removed.
const maxTimestampScan = 16 << 20

// RecordForTimestamp answers ListOffsets by timestamp as Kafka does, at
// record precision: the offset of the first record at or after the log
// start whose timestamp is >= ts, and that record's timestamp; (-1, -1)
// when there is none. The log's OffsetForTimestamp finds the batch; the
// records of that batch (and, rarely, of the next ones) are then read.
// Control batches hold no records a consumer sees and are passed over.
func RecordForTimestamp(ctx context.Context, l PartitionLog, ts int64) (int64, int64, error) {
	off, _, err := l.OffsetForTimestamp(ctx, ts)
	if err != nil || off < 0 {
		return -1, -1, err
	}
	scanned := 0
	for scanned < maxTimestampScan {
		res, err := l.Read(ctx, off, 1<<20)
		if err != nil {
			return -1, -1, fmt.Errorf("read at offset %d for timestamp %d: %w", off, ts, err)
		}
		if len(res.Records) == 0 {
			return -1, -1, nil
		}
		scanned += len(res.Records)
		found, foundTs := int64(-1), int64(-1)
		next := off
		var decodeErr error
		iterErr := recordbatch.Iterate(res.Records, func(h recordbatch.Header, raw []byte) bool {
			next = h.NextOffset()
			if h.IsControl() || h.MaxTimestamp < ts || h.NextOffset() <= off {
				return true
			}
			if h.Attributes&recordbatch.AttrTimestampType != 0 {
				// LogAppendTime: every record has the batch's time.
				found, foundTs = max(off, h.BaseOffset), h.MaxTimestamp
				return false
			}
			recs, err := recordbatch.DecodeRecords(raw, recordbatch.MaxDecompressedBytes)
			if err != nil {
				decodeErr = fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
				return false
			}
			for i := range recs {
				o := h.BaseOffset + int64(recs[i].OffsetDelta)
				if t := h.BaseTimestamp + recs[i].TimestampDelta; o >= off && t >= ts {
					found, foundTs = o, t
					return false
				}
			}
			return true
		})
		if res.Release != nil {
			res.Release()
		}
		if iterErr == nil {
			iterErr = decodeErr
		}
		if iterErr != nil {
			return -1, -1, fmt.Errorf("records for timestamp %d: %w", ts, iterErr)
		}
		if found >= 0 {
			return found, foundTs, nil
		}
		if next <= off {
			return -1, -1, nil
		}
		off = next
	}
	return -1, -1, nil
}
