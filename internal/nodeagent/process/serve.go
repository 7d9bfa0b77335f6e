package process

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/svcnet/svcnet/internal/kube"
)

// LogServer serves the runtime's container logs over HTTP, as a kubelet
// serves /containerLogs: GET /containerLogs/<namespace>/<pod>/<container>
// with follow, previous, timestamps, tailLines and limitBytes. Callers must
// present token as a bearer token.
type LogServer struct {
	rt    *Runtime
	token string
	ln    net.Listener
}

// ListenLogs binds addr (host:0 picks a port) for the runtime's logs.
func (r *Runtime) ListenLogs(addr, token string) (*LogServer, error) {
	if token == "" {
		return nil, errors.New("log server: a token is required")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &LogServer{rt: r, token: token, ln: ln}, nil
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
	got, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
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
