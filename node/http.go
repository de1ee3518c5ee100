package node

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// startHTTP serves the admin endpoint: /healthz (the process is up),
// /readyz (Kafka is served and the metadata has a leader), /metrics
// (Prometheus), /loglevel and Go's profiles under /debug/pprof/.
func (n *Node) startHTTP() error {
	ln, err := net.Listen("tcp", n.cfg.HTTPAddress)
	if err != nil {
		return fmt.Errorf("listen on httpAddress %s: %w", n.cfg.HTTPAddress, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-n.ready:
		default:
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		// From the moment Close begins: load balancers and orchestrators
		// stop sending clients here while requests in flight finish.
		if n.closing.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		if _, ok := n.meta.LeaderID(); !ok {
			http.Error(w, "no raft leader", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if lv := n.cfg.LogLevel; lv != nil {
		// The log level, changed at run time: PUT /loglevel with debug,
		// info, warn or error in the body (logLevel at start-up).
		mux.HandleFunc("GET /loglevel", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, strings.ToLower(lv.Level().String()))
		})
		mux.HandleFunc("PUT /loglevel", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(io.LimitReader(r.Body, 64))
			var l slog.Level
			if err := l.UnmarshalText([]byte(strings.TrimSpace(string(body)))); err != nil {
				http.Error(w, "want debug, info, warn or error", http.StatusBadRequest)
				return
			}
			old := lv.Level()
			lv.Set(l)
			n.log.Warn("log level changed through the admin endpoint", "from", old.String(), "to", l.String(), "remote", r.RemoteAddr)
			fmt.Fprintln(w, strings.ToLower(l.String()))
		})
	}
	// Go's profiles (make bench PROFILE=1 takes them): CPU, heap, allocs,
	// goroutines, mutex and block contention, execution traces.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.metrics, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(n.log.Handler(), slog.LevelWarn)}))
	n.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := n.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("admin http server stopped", "err", err)
		}
	}()
	n.log.Info("serving admin endpoint", "addr", ln.Addr().String())
	return nil
}
