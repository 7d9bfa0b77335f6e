package process

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/svcnet/svcnet/internal/kube"
)

// LogServer is the node's server, as a kubelet's: container logs (GET
// /containerLogs/<namespace>/<pod>/<container> with follow, previous,
// timestamps, tailLines and limitBytes), /attach and /exec streams, and
// /portforward. It
// speaks HTTPS only, and only to the API server: a client certificate the
// cluster CA signed, with the API server's name.
type LogServer struct {
	rt     *Runtime
	caller string
	ln     net.Listener
}

// ServerTLS is what the node's server needs: its serving certificate, the
// CA that signs callers' certificates, and the one caller's common name.
type ServerTLS struct {
	Cert     tls.Certificate
	ClientCA *x509.CertPool
	Caller   string
}

// ListenLogs binds addr (host:0 picks a port) for the runtime's server.
func (r *Runtime) ListenLogs(addr string, t ServerTLS) (*LogServer, error) {
	if len(t.Cert.Certificate) == 0 || t.ClientCA == nil || t.Caller == "" {
		return nil, errors.New("node server: a serving certificate, a client CA and the caller's name are required")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{t.Cert}, ClientCAs: t.ClientCA, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	return &LogServer{rt: r, caller: t.Caller, ln: tls.NewListener(ln, cfg)}, nil
}

// Port is the bound port.
func (s *LogServer) Port() int32 { return int32(s.ln.Addr().(*net.TCPAddr).Port) }

// Run serves until ctx ends.
func (s *LogServer) Run(ctx context.Context) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *LogServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || r.TLS.VerifiedChains[0][0].Subject.CommonName != s.caller {
		http.Error(w, "forbidden: only the API server may call a node", http.StatusForbidden)
		return
	}
	kind, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		http.NotFound(w, r)
		return
	}
	switch {
	case kind == "attach" || kind == "exec":
		s.serveStream(w, r, kind, parts[0], parts[1], parts[2])
		return
	case kind == "portforward":
		s.servePortForward(w, r, parts[0], parts[1])
		return
	case kind != "containerLogs" || r.Method != http.MethodGet:
		http.NotFound(w, r)
		return
	}
	o := &corev1.PodLogOptions{}
	if err := kube.DecodeQuery(r.URL.Query(), o); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if errs := kube.ValidatePodLogOptions(o); len(errs) > 0 {
		http.Error(w, errs.ToAggregate().Error(), http.StatusBadRequest)
		return
	}
	o.Container = parts[2]
	w.Header().Set("Content-Type", "text/plain")
	if err := s.rt.Logs(r.Context(), parts[0], parts[1], o, flushWriter{w}); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, ErrNoPod) {
			code = http.StatusNotFound
		}
		http.Error(w, err.Error(), code)
	}
}

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) { return f.w.Write(p) }
func (f flushWriter) Flush() {
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
}
