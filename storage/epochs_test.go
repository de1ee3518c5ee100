package storage

import (
	"slices"
	"testing"
)

func TestEpochs(t *testing.T) {
	var es Epochs
	if es.Latest() != -1 {
		t.Fatal("empty cache has an epoch")
	}
	if e, end := es.EndOffset(3, 10); e != -1 || end != -1 {
		t.Fatalf("empty: %d %d", e, end)
	}
	es = es.With(1, 0).With(3, 5)
	if got := es.With(2, 7); !slices.Equal(got, es) {
		t.Fatalf("an older epoch was added: %v", got)
	}
	if got := es.With(-1, 7); !slices.Equal(got, es) {
		t.Fatalf("epoch -1 was added: %v", got)
	}
	for _, c := range []struct {
		asked, epoch int32
		end          int64
	}{{0, -1, -1}, {1, 1, 5}, {2, 1, 5}, {3, 3, 9}, {7, 3, 9}} {
		if e, end := es.EndOffset(c.asked, 9); e != c.epoch || end != c.end {
			t.Fatalf("EndOffset(%d) = %d, %d; want %d, %d", c.asked, e, end, c.epoch, c.end)
		}
	}
	if got := es.Before(5); !slices.Equal(got, Epochs{{1, 0}}) {
		t.Fatalf("Before(5) = %v", got)
	}
	with := es.With(4, 9)
	if len(es) != 2 || len(with) != 3 {
		t.Fatalf("With changed its receiver: %v / %v", es, with)
	}
}
