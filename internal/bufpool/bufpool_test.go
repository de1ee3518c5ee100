package bufpool

import "testing"

func TestGetSizes(t *testing.T) {
	var p Pool
	for _, n := range []int{1, 100, 1 << 16, 1<<16 + 1, 3 << 20, 1 << 26, 1<<26 + 1} {
		b := p.Get(n)
		if len(b) != 0 || cap(b) < n {
			t.Fatalf("Get(%d): len %d cap %d", n, len(b), cap(b))
		}
		if n > 1<<16 && n <= 1<<26 && cap(b)&(cap(b)-1) != 0 {
			t.Fatalf("Get(%d): cap %d is not a size class", n, cap(b))
		}
		p.Put(b)
	}
	if b := p.Get(0); b != nil {
		t.Fatalf("Get(0) = %v", b)
	}
}

// TestReuse: a buffer put back is handed out again for a size of its class,
// and a buffer the pool did not make is dropped. sync.Pool may drop what
// it is given (at a garbage collection, and at random under the race
// detector), so reuse is tried a few times.
func TestReuse(t *testing.T) {
	var p Pool
	reused := false
	for range 20 {
		b := p.Get(5 << 20)
		b = append(b, 1, 2, 3)
		p.Put(b)
		c := p.Get(6 << 20)
		if len(c) != 0 || cap(c) != 8<<20 {
			t.Fatalf("Get(6 MiB) after Put: len %d cap %d", len(c), cap(c))
		}
		if &c[:1][0] == &b[0] {
			reused = true
			break
		}
	}
	if !reused {
		t.Fatal("a buffer put back was never handed out again")
	}
	odd := make([]byte, 0, 3<<20)
	p.Put(odd)
	if d := p.Get(3 << 20); cap(d) == cap(odd) {
		t.Fatal("a buffer of a capacity no class has was pooled")
	}
}

func BenchmarkGetPut(b *testing.B) {
	var p Pool
	b.ReportAllocs()
	for range b.N {
		buf := p.Get(8 << 20)
		buf = append(buf, 1)
		p.Put(buf)
	}
}
