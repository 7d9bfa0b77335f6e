// Package apiserver serves the Kubernetes API over HTTPS: discovery, OpenAPI,
// the REST verbs, watch, server-side tables, patch and apply. It turns
// registry errors into Kubernetes Status objects.
package apiserver

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"github.com/svcnet/svcnet/internal/openapi"
	"github.com/svcnet/svcnet/internal/registry"

	"github.com/svcnet/svcnet/internal/version"
)

// Version is what /version reports. The kubectl dispatcher picks the kubectl
// whose minor version matches, so it must stay within what is installed.
var Version = VersionInfo{Major: version.Major, Minor: version.Minor, GitVersion: version.Svcnet}

// VersionInfo is the /version document.
type VersionInfo struct {
	Major        string `json:"major"`
	Minor        string `json:"minor"`
	GitVersion   string `json:"gitVersion"`
	GitCommit    string `json:"gitCommit"`
	GitTreeState string `json:"gitTreeState"`
	BuildDate    string `json:"buildDate"`
	GoVersion    string `json:"goVersion"`
	Compiler     string `json:"compiler"`
	Platform     string `json:"platform"`
}

// User is an authenticated caller.
type User struct {
	Name   string
	Groups []string
}

// IsAdmin reports membership of system:masters.
func (u User) IsAdmin() bool {
	for _, g := range u.Groups {
		if g == "system:masters" {
			return true
		}
	}
	return false
}

// TokenUser maps a bearer token to a user.
type TokenUser struct {
	Token string
	User  User
}

// LogSource streams the log of container opts.Container of a pod
// (internal/nodeproxy provides it).
type LogSource interface {
	Logs(ctx context.Context, namespace, pod string, opts *corev1.PodLogOptions, w LogWriter) error
}

// StreamProxy carries a pods/attach or pods/exec request (subresource) for
// container ctr to the node running the pod (internal/nodeproxy provides
// it); the node speaks the remote-command protocol with the client.
type StreamProxy interface {
	Stream(w http.ResponseWriter, r *http.Request, namespace, pod, subresource, ctr string) error
}

// LogWriter receives log bytes; Flush pushes them to the client.
type LogWriter = interface {
	io.Writer
	Flush()
}

// Config of the API server.
type Config struct {
	// Listener is the bound TCP socket the API serves TLS on; binding it
	// before the server is built lets everything that needs the API's
	// address be built before it serves.
	Listener  net.Listener
	TLSCert   tls.Certificate
	ClientCAs *x509.CertPool
	Tokens    []TokenUser
	Logs      LogSource
	Streams   StreamProxy
	// Ready reports whether the server should answer /readyz ok (etcd
	// reachable); nil is always ready.
	Ready func() error
	// Limits end every request.
	Limits Limits
	// Metrics, when set, answers GET /metrics (`kubectl get --raw
	// /metrics`): the process's Prometheus metrics.
	Metrics http.Handler
}

// Server is the API server. New builds it; Run serves until ctx ends.
type Server struct {
	cfg      Config
	reg      *registry.Registry
	log      *slog.Logger
	codecs   *codecs
	openapi  *openapi.Documents
	tc       managedfields.TypeConverter
	tcOnce   sync.Once
	fmMu     sync.Mutex
	fms      map[fmKey]*managedfields.FieldManager
	handler  http.Handler
	listener net.Listener
	ready    chan struct{}
	inflight inflight
	readyz   readyzState
}

type fmKey struct {
	gr  schema.GroupResource
	sub string
}

// New checks the configuration and builds the handler; it listens on nothing.
func New(cfg Config, reg *registry.Registry, log *slog.Logger) (*Server, error) {
	if cfg.Listener == nil {
		return nil, errors.New("apiserver: no listener")
	}
	if len(cfg.TLSCert.Certificate) == 0 {
		return nil, errors.New("apiserver: no serving certificate")
	}
	s := &Server{cfg: cfg, reg: reg, log: log, codecs: newCodecs(), fms: map[fmKey]*managedfields.FieldManager{}, ready: make(chan struct{}), listener: cfg.Listener, inflight: newInflight(cfg.Limits)}
	docs, err := openapi.Build(reg.Resources())
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	s.openapi = docs
	s.handler = s.withAccessLog(s.withRecovery(s.withDeadline(s.withAuth(s.withInflightCap(http.HandlerFunc(s.route))))))
	return s, nil
}

// Ready is closed once the server serves.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the listening address.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Run listens and serves until ctx ends, then shuts down.
func (s *Server) Run(ctx context.Context) error {
	ln := s.listener
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{s.cfg.TLSCert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.cfg.ClientCAs,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	srv := &http.Server{
		Handler:           s.handler,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       s.cfg.Limits.idleTimeout(),
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	close(s.ready)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(tls.NewListener(ln, tlsCfg)) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}

func (s *Server) withRecovery(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v)
				s.codecs.writeError(w, apierrors.NewInternalError(fmt.Errorf("internal error")))
			}
		}()
		h.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (attach and
// exec hijack it to proxy an upgraded stream).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// withAccessLog logs every request at debug level.
func (s *Server) withAccessLog(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.log.Enabled(r.Context(), slog.LevelDebug) {
			h.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		s.log.Debug("request", "method", r.Method, "uri", r.URL.RequestURI(), "code", rec.code,
			"duration", time.Since(start), "agent", r.UserAgent())
	})
}

type userKey struct{}

// publicPaths need no credentials.
func publicPath(p string) bool {
	switch p {
	case "/version", "/healthz", "/livez", "/readyz", "/version/":
		return true
	}
	return false
}

func (s *Server) withAuth(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, ok := s.authenticate(r)
		if !ok {
			if publicPath(r.URL.Path) {
				h.ServeHTTP(w, r)
				return
			}
			s.codecs.writeError(w, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	})
}

func (s *Server) authenticate(r *http.Request) (User, bool) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			return User{}, false
		}
		tok = strings.TrimSpace(tok)
		for _, t := range s.cfg.Tokens {
			if subtle.ConstantTimeCompare([]byte(t.Token), []byte(tok)) == 1 {
				return t.User, true
			}
		}
		return User{}, false
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		c := r.TLS.VerifiedChains[0][0]
		return User{Name: c.Subject.CommonName, Groups: c.Subject.Organization}, true
	}
	return User{}, false
}

// authorize: system:masters may do anything; every other user may read
// (get, list, watch) all but Secrets, and use discovery.
func authorize(u User, info RequestInfo) error {
	if u.IsAdmin() || !info.IsResource {
		return nil
	}
	verb := info.Verb
	if info.Subresource == "attach" || info.Subresource == "exec" {
		verb = "create" // as Kubernetes authorizes them, whatever the method
	}
	switch verb {
	case "get", "list", "watch":
		// Secrets are not for readers (Kubernetes' view role leaves them out).
		if !(info.APIGroup == "" && info.Resource == "secrets") {
			return nil
		}
	}
	res := info.Resource
	if info.Subresource != "" {
		res += "/" + info.Subresource
	}
	scope := "at the cluster scope"
	if info.Namespace != "" {
		scope = fmt.Sprintf("in the namespace %q", info.Namespace)
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: info.APIGroup, Resource: info.Resource}, info.Name,
		fmt.Errorf("User %q cannot %s resource %q in API group %q %s", u.Name, verb, res, info.APIGroup, scope))
}

func userFrom(ctx context.Context) User {
	u, _ := ctx.Value(userKey{}).(User)
	return u
}
