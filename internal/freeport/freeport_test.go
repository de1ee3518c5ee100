package freeport

import (
	"net"
	"strconv"
	"testing"
)

func TestTakeNeverRepeats(t *testing.T) {
	seen := map[int]bool{}
	for i := 0; i < 200; i++ {
		p, err := Take()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

func TestAddrIsListenable(t *testing.T) {
	a, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(a)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("Addr() = %q, want 127.0.0.1:port (%v)", a, err)
	}
	if _, err := strconv.Atoi(port); err != nil {
		t.Fatalf("port of %q: %v", a, err)
	}
	l, err := net.Listen("tcp", a)
	if err != nil {
		t.Fatalf("listen on %s: %v", a, err)
	}
	l.Close()
}
