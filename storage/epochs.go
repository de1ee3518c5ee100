package storage

import "sort"

// EpochStart says that leader epoch Epoch wrote its first batch at offset
// Start. The JSON names are what pulsarbridge stores in topic properties.
type EpochStart struct {
	Epoch int32 `json:"epoch"`
	Start int64 `json:"start"`
}

// Epochs is a partition log's leader-epoch cache, oldest first: epochs and
// start offsets both grow. Both backends keep one and answer
// OffsetForLeaderEpoch from it.
type Epochs []EpochStart

// Latest is the newest epoch, -1 when there is none.
func (es Epochs) Latest() int32 {
	if len(es) == 0 {
		return -1
	}
	return es[len(es)-1].Epoch
}

// With returns a copy of es with epoch starting at start added when it is
// newer than Latest, and a copy of es otherwise. es is not changed.
func (es Epochs) With(epoch int32, start int64) Epochs {
	out := make(Epochs, len(es), len(es)+1)
	copy(out, es)
	if epoch >= 0 && epoch > es.Latest() {
		out = append(out, EpochStart{Epoch: epoch, Start: start})
	}
	return out
}

// Before returns the epochs that start below end (the others lost their
// data).
func (es Epochs) Before(end int64) Epochs {
	out := make(Epochs, 0, len(es))
	for _, e := range es {
		if e.Start < end {
			out = append(out, e)
		}
	}
	return out
}

// EndOffset answers PartitionLog.EndOffsetForEpoch for a log ending at
// logEnd: the largest epoch <= epoch and where it ended (the next epoch's
// start, or logEnd for the latest); (-1, -1) when there is none.
func (es Epochs) EndOffset(epoch int32, logEnd int64) (int32, int64) {
	i := sort.Search(len(es), func(i int) bool { return es[i].Epoch > epoch }) - 1
	switch {
	case i < 0:
		return -1, -1
	case i == len(es)-1:
		return es[i].Epoch, logEnd
	}
	return es[i].Epoch, es[i+1].Start
}
