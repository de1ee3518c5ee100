package pulsarbridge

import (
	"context"
	"testing"
	"time"

	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/storagetest"
)

// TestOffsetForTimestampSearches: ListOffsets by timestamp finds the first
// batch whose maxTimestamp is >= ts (a record stamped up to timestampSkew
// after it was stored included) and reads only the batches published
// after ts - timestampSkew, not the partition from its start.
func TestOffsetForTimestampSearches(t *testing.T) {
	for _, format := range []string{"kafka", "pulsar"} {
		t.Run(format, func(t *testing.T) {
			b := newBackend(t)
			defer b.Close()
			b.timestampSkew = 300 * time.Millisecond
			l := openTestLog(t, b, format)
			defer l.Close()
			ctx := context.Background()

			type stored struct{ base, ts int64 }
			var batches []stored
			const groups, perGroup = 3, 10
			for g := range groups {
				if g > 0 {
					time.Sleep(time.Second) // > timestampSkew between groups
				}
				for i := range perGroup {
					ts := time.Now().UnixMilli()
					if i == perGroup/2 {
						ts += 250 // stamped ahead of KOP's clock, within the skew
					}
					res, err := l.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(t, 2, 100, ts)}})
					if err != nil {
						t.Fatal(err)
					}
					batches = append(batches, stored{res.BaseOffset, ts})
				}
			}
			want := func(ts int64) (int64, int64) {
				for _, s := range batches {
					if s.ts >= ts {
						return s.base, s.ts
					}
				}
				return -1, -1
			}
			queries := []int64{0, batches[0].ts, batches[len(batches)-1].ts + 1, time.Now().Add(time.Hour).UnixMilli()}
			for _, s := range batches {
				queries = append(queries, s.ts, s.ts-1)
			}
			for _, q := range queries {
				off, ts, _, err := l.offsetForTimestamp(ctx, q)
				if wo, wt := want(q); err != nil || off != wo || ts != wt {
					t.Fatalf("offsetForTimestamp(%d) = %d, %d, %v; want %d, %d", q, off, ts, err, wo, wt)
				}
			}
			// The last group's batches are found without reading the
			// groups stored a second earlier.
			for _, s := range batches[(groups-1)*perGroup:] {
				_, _, scanned, err := l.offsetForTimestamp(ctx, s.ts)
				if err != nil {
					t.Fatal(err)
				}
				if scanned > perGroup+1 {
					t.Fatalf("offsetForTimestamp(%d) read %d batches; the last group has %d", s.ts, scanned, perGroup)
				}
			}
		})
	}
}
