package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsServer serves /metrics, /health, /ready and, when asked,
// /debug/pprof on addr.
type MetricsServer struct {
	addr string
	log  *slog.Logger
	// Reg is where components register their metrics.
	Reg *prometheus.Registry
	// Mux takes further handlers (/health, /ready) before Run.
	Mux *http.ServeMux
	// Bound gets the listening address once Run has bound it.
	Bound chan string
}

// NewMetricsServer makes the server; Run binds and serves it. profiling
// serves /debug/pprof too.
func NewMetricsServer(addr string, profiling bool, log *slog.Logger) *MetricsServer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &MetricsServer{addr: addr, Reg: reg, Mux: http.NewServeMux(), log: log, Bound: make(chan string, 1)}
	m.Mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if profiling {
		m.Mux.HandleFunc("/debug/pprof/", pprof.Index)
		m.Mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		m.Mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	}
	return m
}

// Run serves until ctx ends.
func (m *MetricsServer) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		return fmt.Errorf("metrics listen %s: %w", m.addr, err)
	}
	m.Bound <- ln.Addr().String()
	srv := &http.Server{Handler: m.Mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Registerer is where components register their metrics; nil (metrics
// off) for a nil server.
func (m *MetricsServer) Registerer() prometheus.Registerer {
	if m == nil {
		return nil
	}
	return m.Reg
}

// Handler answers with the metrics; nil for a nil server.
func (m *MetricsServer) Handler() http.Handler {
	if m == nil {
		return nil
	}
	return promhttp.HandlerFor(m.Reg, promhttp.HandlerOpts{})
}

// Start runs m in g and returns its bound address once it listens.
func Start(g *Group, m *MetricsServer) (string, error) {
	g.Go(m.Run)
	select {
	case bound := <-m.Bound:
		return bound, nil
	case <-g.Ctx.Done():
		return "", g.Wait()
	}
}
