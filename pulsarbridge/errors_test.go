package pulsarbridge

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestErrorClasses: the producer errors Open acts on are told apart by
// what Pulsar answers (the texts below are Pulsar's, seen in CI): another
// producer holding the topic is a fence, a topic being loaded again after
// an unload is retried, anything else is neither.
func TestErrorClasses(t *testing.T) {
	cases := []struct {
		err               error
		fenced, reloading bool
	}{
		{errors.New("server error: ProducerFenced: Producer was fenced"), true, false},
		{errors.New("server error: ProducerBusy: Exclusive access mode already taken"), true, false},
		{errors.New("server error: PersistenceError: org.apache.bookkeeper.mledger.ManagedLedgerException: org.apache.bookkeeper.mledger.ManagedLedgerException$BadVersionException: org.apache.pulsar.metadata.api.MetadataStoreException$BadVersionException: Version mismatch, actual=4, expect=3"), false, true},
		{fmt.Errorf("wrapped: %w", errors.New("server error: ServiceNotReady: topic is being loaded")), false, true},
		{errors.New("server error: AuthorizationError: not allowed"), false, false},
		{nil, false, false},
	}
	for _, c := range cases {
		if got := isFenced(c.err); got != c.fenced {
			t.Errorf("isFenced(%v) = %v, want %v", c.err, got, c.fenced)
		}
		if got := isReloading(c.err); got != c.reloading {
			t.Errorf("isReloading(%v) = %v, want %v", c.err, got, c.reloading)
		}
	}
}

// TestSleepCtx: the pause between tries ends with the context.
func TestSleepCtx(t *testing.T) {
	if err := sleepCtx(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("a short pause: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("a pause under a cancelled context: %v, want context.Canceled", err)
	}
}
