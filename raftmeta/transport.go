package raftmeta

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

const (
	transportMaxPool = 3
	// transportTimeout bounds each Raft RPC's I/O (snapshots get it
	// scaled by size). It is also how long the leader's heartbeat to a
	// frozen peer (SIGSTOP, a hung host) waits before Raft reports the
	// peer unreachable, so it is short: metadata RPCs are small.
	transportTimeout = time.Second
)

// The Raft port carries two kinds of connection, told apart by their first
// byte: Raft's own RPCs, and writes a follower forwards to the leader
// (forward.go).
const (
	connRaft    byte = 1
	connForward byte = 2
)

// newTransport listens on bind and advertises advertise (host:port, a
// hostname is resolved once here). An unspecified IP (0.0.0.0, ::) cannot
// be dialled by peers, so it is refused with the reason.
// With serverTLS the port speaks TLS only and peerTLS dials peers.
func newTransport(bind, advertise string, serverTLS, peerTLS *tls.Config, logger hclog.Logger, log *slog.Logger) (*raft.NetworkTransport, *mux, error) {
	addr, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, nil, fmt.Errorf("raftmeta: resolving advertised address %q: %w", advertise, err)
	}
	if addr.IP == nil || addr.IP.IsUnspecified() {
		return nil, nil, fmt.Errorf("raftmeta: advertised address %q is not routable; set AdvertisedAddress (or this node's address in Peers) to an address peers can dial", advertise)
	}
	if addr.Port == 0 {
		return nil, nil, fmt.Errorf("raftmeta: advertised address %q has no port", advertise)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, nil, fmt.Errorf("raftmeta: raft transport on %s (advertised %s): %w", bind, addr, err)
	}
	if serverTLS != nil {
		ln = tls.NewListener(ln, serverTLS)
	}
	m := newMux(ln, addr, peerTLS, log)
	t := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  m,
		MaxPool: transportMaxPool,
		Timeout: transportTimeout,
		Logger:  logger,
	})
	return t, m, nil
}

// mux accepts connections on the Raft port and routes them by their first
// byte: Raft's go to its transport (mux is the transport's
// raft.StreamLayer), forwarded writes to the handler set with
// handleForwards.
type mux struct {
	ln        net.Listener
	advertise net.Addr
	peerTLS   *tls.Config // dialling peers; nil: plain TCP
	log       *slog.Logger
	raftConns chan net.Conn
	forward   atomic.Pointer[func(net.Conn)]
	done      chan struct{}
	closeOnce sync.Once
}

func newMux(ln net.Listener, advertise net.Addr, peerTLS *tls.Config, log *slog.Logger) *mux {
	m := &mux{ln: ln, advertise: advertise, peerTLS: peerTLS, log: log, raftConns: make(chan net.Conn), done: make(chan struct{})}
	go m.serve()
	return m
}

// handleForwards sets the handler of forwarded writes; until it is set
// they are refused (the connection is closed).
func (m *mux) handleForwards(f func(net.Conn)) { m.forward.Store(&f) }

func (m *mux) serve() {
	for {
		c, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			m.log.Error("raftmeta: accepting on the raft port stopped", "err", err)
			return
		}
		go m.route(c)
	}
}

// route reads a connection's first byte (after the TLS handshake, on a TLS
// port: a peer without a certificate the port trusts gets no further) and
// hands it on.
func (m *mux) route(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(transportTimeout))
	var kind [1]byte
	if _, err := io.ReadFull(c, kind[:]); err != nil {
		if _, isTLS := c.(*tls.Conn); isTLS && !errors.Is(err, io.EOF) {
			m.log.Warn("raftmeta: refused a connection on the raft port", "remote", c.RemoteAddr(), "err", err)
		}
		c.Close()
		return
	}
	c.SetReadDeadline(time.Time{})
	switch kind[0] {
	case connRaft:
		select {
		case m.raftConns <- c:
		case <-m.done:
			c.Close()
		}
	case connForward:
		if f := m.forward.Load(); f != nil {
			(*f)(c)
			return
		}
		c.Close()
	default:
		m.log.Warn("raftmeta: closing a connection of unknown kind on the raft port", "remote", c.RemoteAddr(), "kind", kind[0])
		c.Close()
	}
}

// Accept implements net.Listener for the Raft transport.
func (m *mux) Accept() (net.Conn, error) {
	select {
	case c := <-m.raftConns:
		return c, nil
	case <-m.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (m *mux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.done)
		err = m.ln.Close()
	})
	return err
}

// Addr implements net.Listener: the advertised address.
func (m *mux) Addr() net.Addr { return m.advertise }

// Dial implements raft.StreamLayer: a connection that announces itself as
// Raft's.
func (m *mux) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return dialKind(string(address), timeout, connRaft, m.peerTLS)
}

// dialKind connects to a peer's Raft port, with TLS when peerTLS is set,
// and announces the connection's kind.
func dialKind(address string, timeout time.Duration, kind byte, peerTLS *tls.Config) (net.Conn, error) {
	var (
		c   net.Conn
		err error
	)
	if peerTLS != nil {
		c, err = tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", address, peerTLS)
	} else {
		c, err = net.DialTimeout("tcp", address, timeout)
	}
	if err != nil {
		return nil, err
	}
	c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte{kind}); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	return c, nil
}
