package compaction

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kop-project/kop/storage"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

func TestTotals(t *testing.T) {
	var tot Totals
	tot.Add(storage.CompactStats{BytesRead: 100, BytesWritten: 40, RecordsRemoved: 7, BatchesRemoved: 2}, nil)
	tot.Add(storage.CompactStats{}, nil)                        // nothing due: not a pass
	tot.Add(storage.CompactStats{}, storage.ErrClosed)          // closed under it: not a failure
	tot.Add(storage.CompactStats{}, context.Canceled)           // shutdown: not a failure
	tot.Add(storage.CompactStats{}, errors.New("disk on fire")) // a failure
	reg := prometheus.NewRegistry()
	reg.MustRegister(&tot)
	var b bytes.Buffer
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{
		"kop_log_cleaner_passes_total 1\n", "kop_log_cleaner_failures_total 1\n", "kop_log_cleaner_read_bytes_total 100\n",
		"kop_log_cleaner_written_bytes_total 40\n", "kop_log_cleaner_removed_records_total 7\n", "kop_log_cleaner_removed_batches_total 2\n",
		"# TYPE kop_log_cleaner_passes_total counter\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}
