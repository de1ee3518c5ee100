package pulsarbridge

import (
	"strconv"
	"testing"
	"time"
)

// TestTTLCache: a value is served until it is ttl old, and the cache
// never holds more than maxCached keys.
func TestTTLCache(t *testing.T) {
	var c ttlCache[int]
	t0 := time.Unix(1000, 0)
	c.put("a", t0, 1)
	if v, ok := c.get("a", t0.Add(time.Second), 2*time.Second); !ok || v != 1 {
		t.Fatalf("fresh value: %d %v", v, ok)
	}
	if _, ok := c.get("a", t0.Add(2*time.Second), 2*time.Second); ok {
		t.Fatal("a value as old as the ttl was served")
	}
	for i := range maxCached + 10 {
		c.put(strconv.Itoa(i), t0, i)
	}
	if n := len(c.m); n > maxCached {
		t.Fatalf("the cache holds %d keys, more than %d", n, maxCached)
	}
}

func TestNamespaceKey(t *testing.T) {
	if got := namespaceKey("persistent://acme/default/orders"); got != "acme/default" {
		t.Fatalf("namespaceKey = %q", got)
	}
}
