package pulsarbridge

import (
	"time"

	"github.com/apache/pulsar-client-go/pulsar/backoff"
)

// maxReconnectWait caps the wait between two reconnection attempts of
// KOP's Pulsar producers and readers. pulsar-client-go's default doubles
// up to 60 s, so after a Pulsar outage of a few tens of seconds a
// partition would stay unwritable for up to a minute after Pulsar is
// back; with this cap it is writable again within about a second.
const maxReconnectWait = time.Second

// reconnectBackoff is exponential from 100 ms, capped at
// maxReconnectWait, with up to 20 % jitter (a Policy is used by one
// producer's or reader's reconnection loop at a time).
type reconnectBackoff struct {
	wait  time.Duration
	tries uint64
}

func newReconnectBackoff() backoff.Policy { return &reconnectBackoff{} }

func (b *reconnectBackoff) Next() time.Duration {
	b.wait = min(max(2*b.wait, 100*time.Millisecond), maxReconnectWait)
	b.tries++
	// Cheap jitter without a shared random source: spread by the
	// attempt count.
	return b.wait + time.Duration(b.tries%5)*b.wait/25
}

// IsMaxBackoffReached is false: KOP's producers and readers retry for as
// long as they live (the partition log decides when to give up).
func (b *reconnectBackoff) IsMaxBackoffReached() bool { return false }

func (b *reconnectBackoff) Reset() { b.wait, b.tries = 0, 0 }
