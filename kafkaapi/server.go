package kafkaapi

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config holds the protocol-level settings of a Server.
type Config struct {
	// MaxRequestBytes bounds one request frame (socket.request.max.bytes).
	MaxRequestBytes int32
	// IdleTimeout closes a connection with no request in flight for this
	// long (connections.max.idle.ms).
	IdleTimeout time.Duration
	// MaxInFlight bounds the pipelined requests read ahead per connection.
	MaxInFlight int
	// RequestTimeout bounds the work (Raft writes, storage calls) done for
	// one request; Fetch is bounded by its own MaxWait instead.
	RequestTimeout time.Duration
}

// Server serves the Kafka protocol on one or more listeners.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	apis    [maxKey + 1]*api
	pids    producerIDs
	metrics metrics
	closed  atomic.Bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	wg        sync.WaitGroup
}

// NewServer builds a Server over its dependencies.
func NewServer(cfg Config, deps Deps, log *slog.Logger) *Server {
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 100 << 20
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Minute
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Server{
		cfg:       cfg,
		deps:      deps,
		log:       log,
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
	}
	for _, a := range s.registry() {
		a := a
		s.apis[a.key] = &a
	}
	return s
}

// Serve accepts connections on ln until ln is closed or Shutdown is called.
// listenerName is the listener's name (PLAINTEXT, …) used to pick the
// advertised address returned in Metadata.
func (s *Server) Serve(ln net.Listener, listenerName string) error {
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return net.ErrClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closed.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("kafkaapi: accept on %s: %w", ln.Addr(), err)
		}
		c := newConn(s, nc, listenerName)
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.metrics.accepted.Add(1)
		s.metrics.connections.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.metrics.connections.Add(-1)
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Shutdown stops accepting, stops reading new requests, lets requests in
// flight finish and their responses go out, then closes the connections.
// When ctx ends first, connections are closed at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed.Store(true)
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// conn is one client connection. A reader goroutine decodes requests and
// starts a goroutine per request; a writer goroutine sends the responses in
// request order, so pipelined requests are answered in order while slow ones
// (a long-polling fetch) do not stop the connection from reading ahead.
type conn struct {
	s        *Server
	nc       net.Conn
	listener string
	ctx      context.Context
	cancel   context.CancelFunc
	queue    chan *pending
	stopping atomic.Bool
	clientID string
}

type pending struct {
	done chan struct{}
	out  []byte // the full response frame; nil for no response (acks=0)
	fail bool   // close the connection instead of answering
}

func newConn(s *Server, nc net.Conn, listener string) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{s: s, nc: nc, listener: listener, ctx: ctx, cancel: cancel, queue: make(chan *pending, s.cfg.MaxInFlight)}
}

func (c *conn) stopReading() {
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Now())
}

func (c *conn) serve() {
	defer c.cancel()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	c.readLoop()
	close(c.queue)
	<-writerDone
	c.nc.Close()
}

func (c *conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var sizeBuf [4]byte
	for {
		if c.stopping.Load() {
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			c.debugClose("read size", err)
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < 8 || size > c.s.cfg.MaxRequestBytes {
			c.s.log.Warn("closing connection: bad request size", "remote", c.nc.RemoteAddr(), "size", size, "max", c.s.cfg.MaxRequestBytes)
			return
		}
		// Grow the buffer as bytes arrive so a peer announcing a large frame
		// and sending little costs little memory.
		body, err := readN(br, int(size))
		if err != nil {
			c.debugClose("read body", err)
			return
		}
		c.s.metrics.bytesIn.Add(int64(size) + 4)
		p := &pending{done: make(chan struct{})}
		select {
		case c.queue <- p:
		case <-c.ctx.Done():
			return
		}
		if !c.dispatch(body, p) {
			return
		}
	}
}

// readN reads exactly n bytes, allocating in steps of at most 1 MiB.
func readN(r io.Reader, n int) ([]byte, error) {
	const step = 1 << 20
	buf := make([]byte, 0, min(n, step))
	for len(buf) < n {
		want := min(n-len(buf), step)
		if cap(buf)-len(buf) < want {
			nb := make([]byte, len(buf), min(n, max(2*cap(buf), len(buf)+want)))
			copy(nb, buf)
			buf = nb
		}
		m, err := io.ReadFull(r, buf[len(buf):len(buf)+want])
		buf = buf[:len(buf)+m]
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

func (c *conn) debugClose(what string, err error) {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || c.stopping.Load() {
		return
	}
	c.s.log.Debug("closing connection", "remote", c.nc.RemoteAddr(), "during", what, "err", err)
}

// dispatch decodes one request and starts its handler; it reports false when
// the connection must close (undecodable header or body, unknown key,
// unsupported version), as Kafka does.
func (c *conn) dispatch(body []byte, p *pending) bool {
	h, rest, err := parseHeader(body)
	if err != nil {
		c.s.log.Warn("closing connection: bad request header", "remote", c.nc.RemoteAddr(), "err", err)
		p.fail = true
		close(p.done)
		return false
	}
	if h.clientID != nil {
		c.clientID = *h.clientID
	}
	a := c.s.lookup(h.key)
	if h.key == kmsg.ApiVersions.Int16() && (a == nil || h.version > a.max) {
		// KIP-511: answer a newer ApiVersions than we know with a v0 body
		// carrying UNSUPPORTED_VERSION and our ranges, so the client retries
		// with a version we speak.
		p.out = c.frame(h, c.s.apiVersionsFallback(), false)
		close(p.done)
		return true
	}
	if a == nil || h.version < a.min || h.version > a.max {
		c.s.log.Warn("closing connection: unsupported request", "remote", c.nc.RemoteAddr(), "api", kmsg.NameForKey(h.key), "key", h.key, "version", h.version)
		p.fail = true
		close(p.done)
		return false
	}
	c.s.metrics.requests[h.key].Add(1)
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if req.IsFlexible() { // request header v2
		rest, err = skipTags(rest)
		if err != nil {
			c.s.log.Warn("closing connection: bad request header tags", "remote", c.nc.RemoteAddr(), "err", err)
			p.fail = true
			close(p.done)
			return false
		}
	}
	if err := req.ReadFrom(rest); err != nil {
		c.s.log.Warn("closing connection: undecodable request", "remote", c.nc.RemoteAddr(), "api", kmsg.NameForKey(h.key), "version", h.version, "err", err)
		p.fail = true
		close(p.done)
		return false
	}
	go func() {
		defer close(p.done)
		r := &request{conn: c, header: h}
		resp, err := c.s.handle(c.ctx, a, r, req)
		if err != nil {
			c.s.log.Warn("closing connection: handler failed", "remote", c.nc.RemoteAddr(), "api", kmsg.NameForKey(h.key), "err", err)
			p.fail = true
			return
		}
		if resp != nil {
			p.out = c.frame(h, resp, resp.IsFlexible() && h.key != kmsg.ApiVersions.Int16())
		}
	}()
	return true
}

func (s *Server) handle(ctx context.Context, a *api, r *request, req kmsg.Request) (resp kmsg.Response, err error) {
	defer func() {
		if v := recover(); v != nil {
			// A handler bug must not take the broker down; the connection is
			// closed and the bug logged loudly.
			s.log.Error("handler panic", "api", kmsg.NameForKey(a.key), "panic", v)
			resp, err = nil, fmt.Errorf("handler panic: %v", v)
		}
	}()
	if a.key != kmsg.Fetch.Int16() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
	}
	return a.handle(ctx, r, req)
}

// frame encodes a response with its header: size, correlation id, and an
// empty tag buffer for flexible (header v1) responses.
func (c *conn) frame(h header, resp kmsg.Response, flexibleHeader bool) []byte {
	out := make([]byte, 8, 256)
	binary.BigEndian.PutUint32(out[4:], uint32(h.correlationID))
	if flexibleHeader {
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	broken := false
	for p := range c.queue {
		<-p.done
		if broken {
			continue
		}
		if p.fail {
			c.s.metrics.rejected.Add(1)
			bw.Flush()
			broken = true
			c.stopReading()
			c.cancel()
			continue
		}
		if p.out == nil {
			continue
		}
		c.s.metrics.bytesOut.Add(int64(len(p.out)))
		if _, err := bw.Write(p.out); err != nil {
			broken = true
			c.stopReading()
			c.cancel()
			continue
		}
		// Flush when nothing else is ready to go, so pipelined responses
		// share a syscall.
		if len(c.queue) == 0 {
			if err := bw.Flush(); err != nil {
				broken = true
				c.stopReading()
				c.cancel()
			}
		}
	}
	if !broken {
		bw.Flush()
	}
}

// request is what a handler knows of the request besides its body.
type request struct {
	conn   *conn
	header header
}
