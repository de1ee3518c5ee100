package pulsarbridge

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kop-project/kop/storage"
	"github.com/kop-project/kop/storage/storagetest"
)

// BenchmarkSequentialRead reads 1 MiB entries back in order, as a
// sequential consumer's fetches do (cached readers, no seeks), and gives
// each result's buffer back.
func BenchmarkSequentialRead(b *testing.B) {
	be := newBackend(b)
	defer be.Close()
	ctx := context.Background()
	l, err := storagetest.Open(ctx, be, storage.TopicPartition{Topic: fmt.Sprintf("bench-read-%d", time.Now().UnixNano())}, storagetest.Config())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const entries = 100
	for range entries {
		if _, err := l.Append(ctx, 0, []storage.Batch{{Raw: storagetest.MakeBatch(b, 1000, 1024, 1)}}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(entries * 1000 * 1024)
	b.ResetTimer()
	for range b.N {
		off := int64(0)
		for off < l.LogEndOffset() {
			res, err := l.Read(ctx, off, 1<<20)
			if err != nil {
				b.Fatal(err)
			}
			off += 1000 // one batch of 1000 records per read
			if res.Release != nil {
				res.Release() // as a fetch does once its response is encoded
			}
		}
	}
}

// BenchmarkAppend appends 1 MiB batches one after the other, as one
// producer connection does.
func BenchmarkAppend(b *testing.B) {
	be := newBackend(b)
	defer be.Close()
	ctx := context.Background()
	l, err := storagetest.Open(ctx, be, storage.TopicPartition{Topic: fmt.Sprintf("bench-append-%d", time.Now().UnixNano())}, storagetest.Config())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	raw := storagetest.MakeBatch(b, 1000, 1024, 1)
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for range b.N {
		batch := append([]byte(nil), raw...)
		if _, err := l.Append(ctx, 0, []storage.Batch{{Raw: batch}}); err != nil {
			b.Fatal(err)
		}
	}
}
