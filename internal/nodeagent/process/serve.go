package process

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
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
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/containerLogs/"), "/")
	if r.Method != http.MethodGet || len(parts) != 3 || !strings.HasPrefix(r.URL.Path, "/containerLogs/") {
		http.NotFound(w, r)
		return
	}
	o, err := ParseLogOptions(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	if err := s.rt.Logs(r.Context(), parts[0], parts[1], parts[2], o, flushWriter{w}); err != nil {
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

// Query encodes log options as the log server reads them.
func (o LogOptions) Query() url.Values {
	q := url.Values{}
	if o.Follow {
		q.Set("follow", "true")
	}
	if o.Previous {
		q.Set("previous", "true")
	}
	if o.Timestamps {
		q.Set("timestamps", "true")
	}
	if o.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*o.TailLines, 10))
	}
	if o.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*o.LimitBytes, 10))
	}
	return q
}

// ParseLogOptions reads what Query wrote.
func ParseLogOptions(q url.Values) (LogOptions, error) {
	o := LogOptions{Follow: q.Get("follow") == "true", Previous: q.Get("previous") == "true", Timestamps: q.Get("timestamps") == "true"}
	for name, dst := range map[string]**int64{"tailLines": &o.TailLines, "limitBytes": &o.LimitBytes} {
		if v := q.Get(name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return o, fmt.Errorf("invalid %s %q", name, v)
			}
			*dst = &n
		}
	}
	return o, nil
}
