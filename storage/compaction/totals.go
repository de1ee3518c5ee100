package compaction

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/kop-project/kop/storage"
	"github.com/prometheus/client_golang/prometheus"
)

// Totals counts what a backend's cleaner did since it started, for
// /metrics. Safe for concurrent use.
type Totals struct {
	passes, failures               atomic.Int64
	bytesRead, bytesWritten        atomic.Int64
	recordsRemoved, batchesRemoved atomic.Int64
}

// Add counts one pass: its stats, or a failure when err is set.
func (t *Totals) Add(st storage.CompactStats, err error) {
	if errors.Is(err, storage.ErrClosed) || errors.Is(err, context.Canceled) {
		return // the log closed under the pass: not a failure
	}
	if err != nil {
		t.failures.Add(1)
		return
	}
	if st.BytesRead == 0 && st.BytesWritten == 0 {
		return // nothing was due
	}
	t.passes.Add(1)
	t.bytesRead.Add(st.BytesRead)
	t.bytesWritten.Add(st.BytesWritten)
	t.recordsRemoved.Add(st.RecordsRemoved)
	t.batchesRemoved.Add(st.BatchesRemoved)
}

var totalsDescs = []*prometheus.Desc{
	prometheus.NewDesc("kop_log_cleaner_passes_total", "Cleaning passes of compacted partitions that did work.", nil, nil),
	prometheus.NewDesc("kop_log_cleaner_failures_total", "Cleaning passes that failed.", nil, nil),
	prometheus.NewDesc("kop_log_cleaner_read_bytes_total", "Bytes of dirty batches the cleaner read.", nil, nil),
	prometheus.NewDesc("kop_log_cleaner_written_bytes_total", "Bytes of cleaned batches the cleaner wrote.", nil, nil),
	prometheus.NewDesc("kop_log_cleaner_removed_records_total", "Records the cleaner removed.", nil, nil),
	prometheus.NewDesc("kop_log_cleaner_removed_batches_total", "Batches the cleaner dropped whole.", nil, nil),
}

// Describe implements prometheus.Collector.
func (t *Totals) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range totalsDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the totals as counters.
func (t *Totals) Collect(ch chan<- prometheus.Metric) {
	for i, v := range []int64{t.passes.Load(), t.failures.Load(), t.bytesRead.Load(), t.bytesWritten.Load(), t.recordsRemoved.Load(), t.batchesRemoved.Load()} {
		ch <- prometheus.MustNewConstMetric(totalsDescs[i], prometheus.CounterValue, float64(v))
	}
}
