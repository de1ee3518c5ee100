package kafkaapi

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/scope"
	"github.com/kop-project/kop/security"
	"github.com/kop-project/kop/storage"
)

// conn is one client connection. A reader goroutine reads frames ahead
// (bounded by MaxInFlight); a worker executes them strictly in order, as
// Kafka does: the side effects of pipelined requests (appends, commits)
// start in the order the client sent them, which idempotent producers with
// several requests in flight rely on. A Produce request's appends are
// started by the worker and complete later, so the worker goes on with the
// next Produce while they are stored; a writer goroutine writes the
// responses in request order as they complete. A request of any other API
// waits until the Produce requests before it completed.
type conn struct {
	s  *Server
	nc net.Conn
	// sendfile: nc is a plain TCP connection, which fetches write record
	// regions to with sendfile(2) (not TLS, which must encrypt them).
	sendfile bool
	lis      Listener
	auth     authState   // the worker's (auth.go)
	authed   atomic.Bool // auth.done, for the reader
	host     string      // the client's address, as ACL hosts name it
	// ns is the tenant namespace the principal works in (scope.go); the
	// worker's, set by authentication.
	ns     scope.Namespace
	ctx    context.Context
	cancel context.CancelFunc
	// readCtx ends when the connection stops reading (stopReading): a
	// read waiting for request budget gives up then.
	readCtx    context.Context
	readCancel context.CancelFunc
	frames     chan frame
	queued     atomic.Int64  // bytes of frames read but not yet executed
	drained    chan struct{} // signalled by the worker as it takes frames
	stopping   atomic.Bool
	clientID   string
	out        chan outgoing  // responses in request order, to the writer
	unfinished sync.WaitGroup // responses whose finish has not returned
}

// frame is a request's body and when its last byte was read.
type frame struct {
	body     []byte
	received time.Time
}

// outgoing is one response on its way to the writer: a frame, or a finish
// that completes the response and returns its frame; reserved is the
// request budget its body holds until then.
type outgoing struct {
	frame []byte
	// parts, when set, are written instead of frame: a Fetch response
	// cut around its records (fetchframe.go); release then gives the
	// records' buffers and files back once they are written.
	parts    []outPart
	release  func()
	finish   func() []byte
	reserved int
	// timed responses answer a request of API key; received, started
	// and ready time it (metrics.go): last byte read, handling begun,
	// response complete (for a finish, when it returns). Not timed: a
	// raw SASL token's answer, the ApiVersions fallback.
	key                      int16
	timed                    bool
	received, started, ready time.Time
	// closeAfter closes the connection once frame is written (a failed
	// authentication), delay after the request was handled.
	closeAfter bool
	delay      time.Duration
}

func newConn(s *Server, nc net.Conn, lis Listener) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	readCtx, readCancel := context.WithCancel(ctx)
	host := remoteIP(nc)
	if lis.TLS != nil {
		nc = tls.Server(nc, lis.TLS)
	}
	_, plain := nc.(*net.TCPConn)
	return &conn{s: s, nc: nc, lis: lis, host: host, sendfile: plain, ctx: ctx, cancel: cancel, readCtx: readCtx, readCancel: readCancel,
		frames: make(chan frame, s.cfg.MaxInFlight), drained: make(chan struct{}, 1),
		out: make(chan outgoing, s.cfg.MaxInFlight)}
}

func (c *conn) stopReading() {
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Now())
	c.readCancel()
}

func (c *conn) serve() {
	defer c.cancel()
	if !c.handshake() {
		c.nc.Close()
		return
	}
	workerDone := make(chan struct{})
	go func() {
		defer close(workerDone)
		c.work()
	}()
	c.readLoop()
	close(c.frames)
	<-workerDone
	c.nc.Close()
}

// handshake completes TLS on a TLS listener, within requestReadTimeoutMs,
// and settles who a client on a listener without SASL is: the subject of
// its verified certificate, or ANONYMOUS.
func (c *conn) handshake() bool {
	c.auth.principal = anonymous
	if tc, ok := c.nc.(*tls.Conn); ok {
		ctx, cancel := context.WithTimeout(c.ctx, c.s.cfg.RequestReadTimeout)
		defer cancel()
		if err := tc.HandshakeContext(ctx); err != nil {
			c.s.metrics.authFailures.Add(1)
			c.s.log.Info("closing connection: TLS handshake failed", "remote", c.nc.RemoteAddr(), "listener", c.lis.Name, "err", err)
			return false
		}
		if p, ok := security.CertificatePrincipal(tc.ConnectionState()); ok {
			c.auth.principal = p
		}
	}
	if !c.lis.SASL {
		c.auth.done = true
		c.authed.Store(true)
	}
	return true
}

func (c *conn) readLoop() {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	var sizeBuf [4]byte
	for {
		if c.stopping.Load() {
			return
		}
		// Read ahead only while little is queued: a connection holds at
		// most readAheadBytes of waiting frames beside the one executing
		// and the one being read.
		for c.queued.Load() > readAheadBytes {
			select {
			case <-c.drained:
			case <-c.readCtx.Done():
				return
			}
		}
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			c.debugClose("read size", err)
			return
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		minSize, maxSize := int32(8), c.s.cfg.MaxRequestBytes
		if !c.authed.Load() {
			// Before SASL authentication: bare tokens (after a v0
			// handshake) may be short, and nothing may be large.
			minSize, maxSize = 1, min(maxSize, preAuthMaxBytes)
		}
		if size < minSize || size > maxSize {
			c.s.log.Warn("closing connection: bad request size", "remote", c.nc.RemoteAddr(), "size", size, "max", maxSize, "authenticated", c.authed.Load())
			c.s.metrics.rejected.Add(1)
			return
		}
		if br.Buffered() < int(size) {
			// The body is still on its way: it must arrive in time.
			c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.RequestReadTimeout))
		}
		// The body's buffer takes its bytes from the broker-wide budget
		// as it grows with what arrives, and holds them until the
		// request is answered. When the budget has no room, the
		// connection gives back what it holds and waits, the socket
		// unread, for the whole request at once: a waiting connection
		// never holds budget another needs, so waits cannot deadlock;
		// and it waits at most requestReadTimeoutMs.
		held, whole := 0, false
		grow := func(n int) error {
			if whole {
				return nil
			}
			if c.s.tryReserve(n) {
				held += n
				return nil
			}
			c.s.unreserve(held)
			held = 0
			ctx, cancel := context.WithTimeout(c.readCtx, c.s.cfg.RequestReadTimeout)
			defer cancel()
			if err := c.s.reserveWait(ctx, int(size)); err != nil {
				return err
			}
			held, whole = int(size), true
			// The wait is not the sender's: its bytes get the full time.
			c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.RequestReadTimeout))
			return nil
		}
		body, err := readN(br, int(size), grow)
		if err != nil {
			c.s.unreserve(held)
			if errors.Is(err, context.DeadlineExceeded) {
				c.s.log.Warn("closing connection: no room in queuedMaxRequestBytes for its request within requestReadTimeoutMs",
					"remote", c.nc.RemoteAddr(), "size", size)
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !c.stopping.Load() {
				c.s.log.Warn("closing connection: a request's bytes did not arrive within requestReadTimeoutMs",
					"remote", c.nc.RemoteAddr(), "size", size, "timeout", c.s.cfg.RequestReadTimeout)
				c.s.metrics.rejected.Add(1)
				return
			}
			c.debugClose("read body", err)
			return
		}
		c.s.metrics.bytesIn.Add(float64(size) + 4)
		c.queued.Add(int64(len(body)))
		select {
		case c.frames <- frame{body, time.Now()}:
		case <-c.ctx.Done():
			c.s.unreserve(len(body))
			return
		}
	}
}

// readAheadBytes bounds the frames a connection reads ahead of the one it
// executes.
const readAheadBytes = 1 << 20

// minBodyBuffer is what a request body's buffer starts at, unless more
// has already arrived.
const minBodyBuffer = 4 << 10

// readN reads exactly n bytes into a buffer that grows with the bytes
// that have arrived, so a peer announcing a large frame and sending
// little costs little memory: at most four times what it sent, or
// minBodyBuffer. (Growing fourfold rather than twofold halves the copying
// of large bodies.) grow, when set, is asked for every byte of capacity
// before it is allocated.
func readN(r io.Reader, n int, grow func(int) error) (buf []byte, err error) {
	alloc := func(size int) error {
		if grow != nil {
			if err := grow(size - cap(buf)); err != nil {
				return err
			}
		}
		nb := make([]byte, len(buf), size)
		copy(nb, buf)
		buf = nb
		return nil
	}
	start := minBodyBuffer
	if br, ok := r.(interface{ Buffered() int }); ok {
		start = max(start, br.Buffered())
	}
	if err := alloc(min(n, start)); err != nil {
		return nil, err
	}
	for len(buf) < n {
		if len(buf) == cap(buf) {
			if err := alloc(min(n, 4*cap(buf))); err != nil {
				return nil, err
			}
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err != nil && len(buf) < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
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

// work executes the frames in order and hands their responses to the
// writer. A frame that must close the connection stops it after the
// responses before it went out.
func (c *conn) work() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.write()
	}()
	for f := range c.frames {
		body := f.body
		c.queued.Add(-int64(len(body)))
		select {
		case c.drained <- struct{}{}:
		default:
		}
		c.s.metrics.inFlight.Inc()
		started := time.Now()
		o, ok := c.execute(body)
		if !ok {
			c.s.metrics.inFlight.Dec()
			c.s.unreserve(len(body))
			c.s.metrics.rejected.Inc()
			c.stopReading()
			c.cancel()
			break
		}
		o.received, o.started = f.received, started
		if o.finish == nil {
			o.ready = time.Now()
			// Answered: the decoded request (which may alias the
			// body) is done with.
			c.s.unreserve(len(body))
		} else {
			o.reserved = len(body) // a produce's batches wait for its appends
		}
		if o.frame == nil && o.finish == nil {
			c.s.metrics.inFlight.Dec() // acks=0: no response
			continue
		}
		if o.delay > 0 {
			t := time.NewTimer(o.delay)
			select {
			case <-t.C:
			case <-c.ctx.Done():
				t.Stop()
			}
		}
		c.out <- o
		if o.closeAfter {
			// The writer still sends o (it drains c.out); the reader,
			// perhaps waiting for read-ahead room, is released.
			c.stopReading()
			c.cancel()
			break
		}
	}
	close(c.out)
	// Drain what the reader still hands over so it never blocks.
	for f := range c.frames {
		c.s.unreserve(len(f.body))
	}
	<-writerDone
}

// write writes the responses in order, completing deferred ones first, and
// flushes when no further response is waiting so pipelined responses share
// a syscall.
func (c *conn) write() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	defer bw.Flush()
	broken := false
	for o := range c.out {
		frame := o.frame
		if o.finish != nil {
			if !broken {
				if frame = c.finish(o.finish); frame == nil {
					// A handler bug: close, as for a panic in execute.
					broken = true
					c.stopReading()
					c.cancel()
				}
			}
			c.unfinished.Done()
			c.s.unreserve(o.reserved)
			o.ready = time.Now()
		}
		c.s.metrics.inFlight.Dec()
		if broken {
			if o.release != nil {
				o.release()
			}
			continue // the connection is closing: drain
		}
		err := c.writeOut(bw, frame, o.parts)
		c.s.bufs.Put(frame) // bufio copies what it keeps
		if o.release != nil {
			o.release()
		}
		if o.timed {
			c.s.metrics.observe(o.key, o.received, o.started, o.ready, time.Now())
		}
		if err != nil {
			broken = true
		} else if len(c.out) == 0 {
			if err := bw.Flush(); err != nil {
				broken = true
			}
		}
		if broken {
			c.stopReading()
			c.cancel()
		}
	}
}

// writeOut writes a frame, or the parts it was cut into, and counts the
// bytes. bufio copies only what fits its buffer; a large part goes to the
// socket directly, and a file region goes with sendfile(2) after what is
// buffered.
func (c *conn) writeOut(bw *bufio.Writer, frame []byte, parts []outPart) error {
	count := c.s.metrics.bytesOut.Add
	if parts == nil {
		count(float64(len(frame)))
		_, err := bw.Write(frame)
		return err
	}
	for _, p := range parts {
		if p.file == nil {
			count(float64(len(p.b)))
			if _, err := bw.Write(p.b); err != nil {
				return err
			}
			continue
		}
		count(float64(p.n))
		if err := bw.Flush(); err != nil {
			return err
		}
		if err := sendFile(c.nc, p.file, p.pos, p.n); err != nil {
			return err
		}
	}
	return nil
}

// finish runs a deferred response's finish; nil when it panicked.
func (c *conn) finish(f func() []byte) (frame []byte) {
	defer func() {
		if v := recover(); v != nil {
			c.s.log.Error("handler panic while finishing a response", "panic", v)
			frame = nil
		}
	}()
	return f()
}

// execute decodes and handles one request and returns its response frame
// (nil when there is none, as for acks=0 produce). It reports false when
// the connection must close instead: an undecodable header or body, an
// unknown key, an unsupported version — as Kafka does.
func (c *conn) execute(body []byte) (outgoing, bool) {
	if c.auth.raw {
		return c.rawSASLSafe(body)
	}
	h, rest, err := parseHeader(body)
	if err != nil {
		c.s.log.Warn("closing connection: bad request header", "remote", c.nc.RemoteAddr(), "err", err)
		return outgoing{}, false
	}
	if h.clientID != nil {
		c.clientID = *h.clientID
	}
	a := c.s.lookup(h.key)
	if h.key == kmsg.ApiVersions.Int16() && (a == nil || h.version > a.max) {
		// KIP-511: answer a newer ApiVersions than we know with a v0 body
		// carrying UNSUPPORTED_VERSION and our ranges, so the client retries
		// with a version we speak.
		return outgoing{frame: c.frame(h, c.s.apiVersionsFallback(), false)}, true
	}
	if a == nil || h.version < a.min || h.version > a.max {
		c.s.log.Warn("closing connection: unsupported request", "remote", c.nc.RemoteAddr(), "api", kmsg.NameForKey(h.key), "key", h.key, "version", h.version)
		return outgoing{}, false
	}
	if why := c.gate(h.key); why != "" {
		c.s.log.Warn("closing connection: "+why, "remote", c.nc.RemoteAddr(), "api", kmsg.NameForKey(h.key))
		return outgoing{}, false
	}
	if !a.pipelined {
		c.unfinished.Wait()
	}
	c.s.metrics.requests[h.key].Inc()
	req := kmsg.RequestForKey(h.key)
	req.SetVersion(h.version)
	if req.IsFlexible() { // request header v2
		if rest, err = skipTags(rest); err != nil {
			c.s.log.Warn("closing connection: bad request header tags", "remote", c.nc.RemoteAddr(), "err", err)
			return outgoing{}, false
		}
	}
	if err := req.ReadFrom(rest); err != nil {
		c.s.log.Warn("closing connection: undecodable request", "remote", c.nc.RemoteAddr(), "api", kmsg.NameForKey(h.key), "version", h.version, "err", err)
		return outgoing{}, false
	}
	ns, scoped := c.ns, c.s.cfg.Tenancy != nil
	if scoped {
		c.s.scopeRequest(ns, req)
	}
	r := &request{conn: c, header: h}
	resp, err := c.s.handle(c.ctx, a, r, req)
	if err != nil {
		c.s.log.Warn("closing connection: handler failed", "remote", c.nc.RemoteAddr(), "api", kmsg.NameForKey(h.key), "err", err)
		return outgoing{}, false
	}
	if resp == nil {
		return outgoing{}, true
	}
	flexible := resp.IsFlexible() && h.key != kmsg.ApiVersions.Int16()
	if r.finish != nil {
		c.unfinished.Add(1)
		return outgoing{key: h.key, timed: true, finish: func() []byte {
			r.finish()
			defer r.encoded()
			c.s.metrics.countErrors(h.key, resp)
			if scoped {
				scopeResponse(ns, resp)
			}
			return c.frame(h, resp, flexible)
		}}, true
	}
	c.s.metrics.countErrors(h.key, resp)
	if scoped {
		scopeResponse(ns, resp)
	}
	o := outgoing{key: h.key, timed: true, closeAfter: r.closeAfter, delay: r.delay}
	if fr, ok := resp.(*kmsg.FetchResponse); ok {
		o.frame, o.parts = c.fetchFrame(h, fr, flexible, r.regions)
	} else {
		o.frame = c.frame(h, resp, flexible)
	}
	if o.parts != nil {
		o.release = r.encoded // the parts point into the records
	} else {
		r.encoded()
	}
	return o, true
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
	if !a.blocking {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.RequestTimeout)
		defer cancel()
	}
	return a.handle(ctx, r, req)
}

// frame encodes a response with its header: size, correlation id, and an
// empty tag buffer for flexible (header v1) responses.
func (c *conn) frame(h header, resp kmsg.Response, flexibleHeader bool) []byte {
	out := c.s.bufs.Get(sizeHint(resp))[:8]
	binary.BigEndian.PutUint32(out[4:], uint32(h.correlationID))
	if flexibleHeader {
		out = append(out, 0)
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

// sizeHint is the buffer to encode resp into: Fetch responses carry
// megabytes of records, which would otherwise be copied as the buffer grows.
func sizeHint(resp kmsg.Response) int {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 256
	}
	n := 256
	for i := range f.Topics {
		n += 64 + len(f.Topics[i].Topic)
		for j := range f.Topics[i].Partitions {
			n += 64 + len(f.Topics[i].Partitions[j].RecordBatches)
		}
	}
	return n
}

// request is what a handler knows of the request besides its body.
type request struct {
	conn   *conn
	header header
	// finish, set by a pipelined API's handler, completes the returned
	// response outside the connection's worker; the response is written
	// once it returns.
	finish func()
	// release gives back buffers the response points into (records read
	// for a fetch) once it is encoded.
	release []func()
	// regions are a Fetch response's records that stay in their segment
	// files, by partition, for the writer to send with sendfile.
	regions map[*kmsg.FetchResponseTopicPartition]*storage.Region
	// closeAfter closes the connection once the response is written,
	// delay after it was handled (failed authentication).
	closeAfter bool
	delay      time.Duration
}

// encoded runs the request's releases: its response is in a frame now, or
// (a Fetch response written in parts) on the socket.
func (r *request) encoded() {
	for _, f := range r.release {
		f()
	}
	r.release = nil
}
