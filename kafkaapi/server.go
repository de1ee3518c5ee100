package kafkaapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kop-project/kop/internal/bufpool"
	"github.com/kop-project/kop/recordbatch"
	"golang.org/x/sync/semaphore"
)

// Config holds the protocol-level settings of a Server.
type Config struct {
	// MaxRequestBytes bounds one request frame (socket.request.max.bytes).
	MaxRequestBytes int32
	// IdleTimeout closes a connection with no request in flight for this
	// long (connections.max.idle.ms).
	IdleTimeout time.Duration
	// RequestReadTimeout closes a connection whose request, once its size
	// arrived, is not all there within this long: a slow sender holds no
	// buffer for ever (requestReadTimeoutMs).
	RequestReadTimeout time.Duration
	// MaxInFlight bounds the pipelined requests read ahead per connection.
	MaxInFlight int
	// RequestTimeout bounds the work (Raft writes, storage calls) done for
	// one request; Fetch is bounded by its own MaxWait instead.
	RequestTimeout time.Duration
	// MaxConnections and MaxConnectionsPerIP cap the open client
	// connections in all and from one address (Kafka's max.connections,
	// max.connections.per.ip); a connection beyond them is closed at once.
	// 0 means no cap.
	MaxConnections      int
	MaxConnectionsPerIP int
	// MaxDecompressedBatchBytes bounds the records of one produced batch
	// once decompressed; a compressed batch inflating to more is refused
	// (a compression bomb). 0: recordbatch.MaxDecompressedBytes.
	MaxDecompressedBatchBytes int
	// QueuedMaxRequestBytes bounds, broker-wide, the bytes of requests
	// being read or waiting to be handled (Kafka's
	// queued.max.request.bytes): a request's buffer takes budget as it
	// grows with the bytes that arrive and holds it until the request is
	// answered; when it is spent, sockets are not read (back-pressure).
	// 0: no bound.
	QueuedMaxRequestBytes int64
	// ReauthMs bounds a SASL session (connections.max.reauth.ms, KIP-368):
	// the client must authenticate again within it. 0: sessions last as
	// long as their credential (a token's expiry), or for ever.
	ReauthMs int64
	// FailedAuthenticationDelay delays the answer to a failed
	// authentication and the close that follows
	// (connection.failed.authentication.delay.ms).
	FailedAuthenticationDelay time.Duration
	// Now is the clock of SASL sessions (time.Now).
	Now func() time.Time
	// Tenancy, when set, gives clients that log in with a Pulsar token
	// their tenant's namespace (scope.go).
	Tenancy *Tenancy
}

// Server serves the Kafka protocol on one or more listeners.
type Server struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
	apis [maxKey + 1]*api
	pids producerIDs
	// queued is the QueuedMaxRequestBytes budget; nil without one.
	queued  *semaphore.Weighted
	peers   peers       // clients to the other brokers (transaction markers)
	authz   *authorizer // nil: everything is allowed
	metrics *metrics
	// bufs recycles response frames once written (Fetch's are megabytes).
	bufs bufpool.Pool
	// fetchSecret is the random half of the markers Fetch responses are
	// cut at (fetchframe.go).
	fetchSecret [8]byte
	closed      atomic.Bool

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	perIP     map[string]int // open connections by remote address
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
	if cfg.MaxDecompressedBatchBytes <= 0 {
		cfg.MaxDecompressedBatchBytes = recordbatch.MaxDecompressedBytes
	}
	if cfg.RequestReadTimeout <= 0 {
		cfg.RequestReadTimeout = time.Minute
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 8
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:         cfg,
		deps:        deps,
		log:         log,
		listeners:   make(map[net.Listener]struct{}),
		conns:       make(map[*conn]struct{}),
		metrics:     newMetrics(),
		perIP:       make(map[string]int),
		fetchSecret: newFetchSecret(),
	}
	if cfg.QueuedMaxRequestBytes > 0 {
		// A request larger than the budget could never be read.
		s.cfg.QueuedMaxRequestBytes = max(cfg.QueuedMaxRequestBytes, int64(cfg.MaxRequestBytes))
		s.queued = semaphore.NewWeighted(s.cfg.QueuedMaxRequestBytes)
	}
	s.peers.tls = deps.PeerTLS
	if deps.Authz.Enabled && deps.Security != nil {
		s.authz = newAuthorizer(deps.Authz, deps.Security, s.log)
	}
	for _, a := range s.registry() {
		a := a
		s.apis[a.key] = &a
	}
	return s
}

// tryReserve takes n bytes of the broker-wide request budget if they are
// free now.
func (s *Server) tryReserve(n int) bool {
	return s.queued == nil || s.queued.TryAcquire(int64(n))
}

// reserveWait takes n bytes of the budget, waiting (the connection not
// reading meanwhile) until they are free or ctx ends. The caller holds
// none of the budget while it waits.
func (s *Server) reserveWait(ctx context.Context, n int) error {
	if s.queued == nil {
		return nil
	}
	s.metrics.budgetWaits.Add(1)
	return s.queued.Acquire(ctx, int64(n))
}

// unreserve gives back n bytes reserve took.
func (s *Server) unreserve(n int) {
	if s.queued != nil && n > 0 {
		s.queued.Release(int64(n))
	}
}

func (s *Server) now() time.Time { return s.cfg.Now() }

// Serve accepts connections on ln until ln is closed or Shutdown is called.
// lis says whether they use TLS and SASL; its name (PLAINTEXT, …) picks
// the advertised addresses returned in Metadata.
func (s *Server) Serve(ln net.Listener, lis Listener) error {
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
		c := newConn(s, nc, lis)
		ip := c.host
		s.mu.Lock()
		if s.closed.Load() {
			s.mu.Unlock()
			nc.Close()
			return nil
		}
		if why := s.refuseLocked(ip); why != "" {
			s.mu.Unlock()
			// Logged at 1, 2, 4, 8, … refusals: a flood of connections
			// must not flood the log too.
			if n := s.metrics.refusedN.Add(1); n&(n-1) == 0 {
				s.log.Warn("refusing a connection", "remote", nc.RemoteAddr().String(), "reason", why, "refused_total", n)
			}
			s.metrics.refused.Inc()
			nc.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.perIP[ip]++
		s.wg.Add(1)
		s.mu.Unlock()
		s.metrics.accepted.Add(1)
		s.metrics.connections.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.metrics.closed.Inc()
			defer s.metrics.connections.Dec()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			if s.perIP[ip]--; s.perIP[ip] <= 0 {
				delete(s.perIP, ip)
			}
			s.mu.Unlock()
		}()
	}
}

// refuseLocked says why a new connection from ip is refused, "" when it
// is not: the caps on connections in all and per address.
func (s *Server) refuseLocked(ip string) string {
	if m := s.cfg.MaxConnections; m > 0 && len(s.conns) >= m {
		return fmt.Sprintf("maxConnections (%d) reached", m)
	}
	if m := s.cfg.MaxConnectionsPerIP; m > 0 && s.perIP[ip] >= m {
		return fmt.Sprintf("maxConnectionsPerIp (%d) reached for %s", m, ip)
	}
	return ""
}

// remoteIP is the address part of a connection's peer.
func remoteIP(nc net.Conn) string {
	a := nc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(a); err == nil {
		return host
	}
	return a
}

// Shutdown stops accepting, stops reading new requests, lets requests in
// flight finish and their responses go out, then closes the connections.
// When ctx ends first, connections are closed at once.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.peers.close()
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
