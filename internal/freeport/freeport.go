package freeport

import (
	"fmt"
	"net"
	"sync"
)

// taken remembers every port handed out by this process. It is process
// state on purpose: the kernel's ephemeral ports are process-wide too.
var taken = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// Take returns a loopback TCP port that was free a moment ago and that
// this process has not been given before.
func Take() (int, error) {
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for tries := 0; tries < 100; tries++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("freeport: listen on 127.0.0.1: %w", err)
		}
		// Keeping a refused port's listener open until we return makes
		// the kernel offer a different one next time.
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		taken.Lock()
		fresh := !taken.ports[port]
		if fresh {
			taken.ports[port] = true
		}
		taken.Unlock()
		if fresh {
			return port, nil
		}
	}
	return 0, fmt.Errorf("freeport: no unused loopback port after 100 tries")
}

// Addr is Take formatted as 127.0.0.1:port.
func Addr() (string, error) {
	p, err := Take()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", p), nil
}
