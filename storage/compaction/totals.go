package compaction

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/kop-project/kop/storage"
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

// WriteMetrics writes the totals in Prometheus' text format.
func (t *Totals) WriteMetrics(w io.Writer) {
	for _, m := range []struct {
		name, help string
		v          int64
	}{
		{"kop_log_cleaner_passes_total", "Cleaning passes of compacted partitions that did work.", t.passes.Load()},
		{"kop_log_cleaner_failures_total", "Cleaning passes that failed.", t.failures.Load()},
		{"kop_log_cleaner_read_bytes_total", "Bytes of dirty batches the cleaner read.", t.bytesRead.Load()},
		{"kop_log_cleaner_written_bytes_total", "Bytes of cleaned batches the cleaner wrote.", t.bytesWritten.Load()},
		{"kop_log_cleaner_removed_records_total", "Records the cleaner removed.", t.recordsRemoved.Load()},
		{"kop_log_cleaner_removed_batches_total", "Batches the cleaner dropped whole.", t.batchesRemoved.Load()},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", m.name, m.help, m.name, m.name, m.v)
	}
}
