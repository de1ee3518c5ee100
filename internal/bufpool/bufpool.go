package bufpool

import (
	"math/bits"
	"sync"
)

// Buffers from 64 KiB to 64 MiB are pooled, by powers of two; smaller and
// larger ones are left to the garbage collector.
const (
	minShift = 16
	maxShift = 26
)

// Pool is a set of buffers by size class; the zero value is ready to use.
// The garbage collector may empty it at any time (sync.Pool), so an idle
// broker holds no buffers.
type Pool struct {
	classes [maxShift - minShift + 1]sync.Pool
}

// Get returns a buffer of length 0 and capacity at least n.
func (p *Pool) Get(n int) []byte {
	if n <= 0 {
		return nil
	}
	if n > 1<<maxShift {
		return make([]byte, 0, n)
	}
	shift := max(bits.Len(uint(n-1)), minShift)
	if v := p.classes[shift-minShift].Get(); v != nil {
		return (*v.(*[]byte))[:0]
	}
	return make([]byte, 0, 1<<shift)
}

// Put gives b back for reuse. Buffers Get did not make (a capacity that is
// not one of the classes) are dropped.
func (p *Pool) Put(b []byte) {
	c := cap(b)
	if c < 1<<minShift || c > 1<<maxShift || c&(c-1) != 0 {
		return
	}
	b = b[:0]
	p.classes[bits.Len(uint(c))-1-minShift].Put(&b)
}
