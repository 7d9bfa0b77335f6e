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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"github.com/svcnet/svcnet/internal/openapi"
	"github.com/svcnet/svcnet/internal/rbac"
	"github.com/svcnet/svcnet/internal/registry"
	"github.com/svcnet/svcnet/internal/satoken"

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
	// ServiceAccounts signs and verifies ServiceAccount tokens (TokenRequest,
	// projected tokens); nil issues none and accepts none.
	ServiceAccounts *satoken.Signer
	// Metrics, when set, answers GET /metrics (`kubectl get --raw
	// /metrics`): the process's Prometheus metrics.
	Metrics http.Handler
}

// Server is the API server. New builds it; Run serves until ctx ends.
type Server struct {
	cfg     Config
	reg     *registry.Registry
	log     *slog.Logger
	codecs  *codecs
	openapi atomic.Pointer[openapi.Documents]
	// openapiMu orders rebuilds of the documents.
	openapiMu sync.Mutex
	tc        managedfields.TypeConverter
	tcOnce    sync.Once
	fmMu      sync.Mutex
	fms       map[fmKey]*managedfields.FieldManager
	handler   http.Handler
	listener  net.Listener
	ready     chan struct{}
	inflight  inflight
	readyz    readyzState
	cache     *objectCache
	saTokens  tokenCache
	// bootstrapped closes (Bootstrapped) once the bootstrap objects are
	// written: the object cache lists only then, so its first view has the
	// bootstrap RBAC roles and bindings.
	bootstrapped     chan struct{}
	bootstrappedOnce sync.Once
}

// Bootstrapped says the bootstrap objects (RBAC roles, PriorityClasses)
// are written; authorization of non-admin requests waits for it.
func (s *Server) Bootstrapped() { s.bootstrappedOnce.Do(func() { close(s.bootstrapped) }) }

type fmKey struct {
	res *registry.Resource // a custom resource's is replaced when its definition changes
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
	s := &Server{cfg: cfg, reg: reg, log: log, codecs: newCodecs(), fms: map[fmKey]*managedfields.FieldManager{}, ready: make(chan struct{}), listener: cfg.Listener, inflight: newInflight(cfg.Limits), cache: newObjectCache(), bootstrapped: make(chan struct{})}
	docs, err := openapi.Build(reg.Resources(), nil, nil)
	if err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}
	s.openapi.Store(docs)
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
	go func() {
		select {
		case <-s.bootstrapped:
			s.cache.run(ctx, s.reg)
		case <-ctx.Done():
		}
	}()
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
		if r.Header.Get("Impersonate-User") != "" || len(r.Header.Values("Impersonate-Group")) > 0 {
			as, err := s.impersonate(r, user)
			if err != nil {
				s.codecs.writeError(w, err)
				return
			}
			user = as
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, user)))
	})
}

// impersonate acts as the user (and groups) the Impersonate-* headers name
// (`kubectl --as`, `--as-group`) when the caller may impersonate them, as
// Kubernetes allows: the verb impersonate on users, groups or, for a
// system:serviceaccount: name, the ServiceAccount.
func (s *Server) impersonate(r *http.Request, caller User) (User, error) {
	name := r.Header.Get("Impersonate-User")
	if name == "" {
		return User{}, apierrors.NewBadRequest("impersonating groups requires impersonating a user")
	}
	groups := r.Header.Values("Impersonate-Group")
	check := func(info RequestInfo) error {
		info.IsResource, info.Verb = true, "impersonate"
		return s.authorize(r.Context(), caller, info, "POST")
	}
	userInfo := RequestInfo{Resource: "users", Name: name}
	if rest, ok := strings.CutPrefix(name, "system:serviceaccount:"); ok {
		if ns, sa, ok := strings.Cut(rest, ":"); ok {
			userInfo = RequestInfo{Resource: "serviceaccounts", Namespace: ns, Name: sa}
		}
	}
	if err := check(userInfo); err != nil {
		return User{}, err
	}
	for _, g := range groups {
		if err := check(RequestInfo{Resource: "groups", Name: g}); err != nil {
			return User{}, err
		}
	}
	return User{Name: name, Groups: groups}.authenticated(), nil
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
				return t.User.authenticated(), true
			}
		}
		if u, ok := s.authenticateServiceAccount(r.Context(), tok); ok {
			return u, true
		}
		return User{}, false
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		c := r.TLS.VerifiedChains[0][0]
		return User{Name: c.Subject.CommonName, Groups: c.Subject.Organization}.authenticated(), true
	}
	return User{}, false
}

// authenticated adds the group every authenticated user is in.
func (u User) authenticated() User {
	if slices.Contains(u.Groups, registry.AuthenticatedGroup) {
		return u
	}
	u.Groups = append(slices.Clip(u.Groups), registry.AuthenticatedGroup)
	return u
}

// cacheWait bounds how long a request waits for the cached objects (RBAC,
// ServiceAccounts, PriorityClasses) to be read after a start.
const cacheWait = 10 * time.Second

// cacheSynced waits until the object cache has read every kind once.
func (s *Server) cacheSynced(ctx context.Context) error {
	select {
	case <-s.cache.synced:
		return nil
	default:
	}
	t := time.NewTimer(cacheWait)
	defer t.Stop()
	select {
	case <-s.cache.synced:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return apierrors.NewServiceUnavailable("the API server has not read the RBAC objects yet")
	}
}

// authorize: system:masters may do anything; every other user what RBAC
// gives it (internal/rbac over the cached Roles and bindings).
func (s *Server) authorize(ctx context.Context, u User, info RequestInfo, method string) error {
	if u.IsAdmin() {
		return nil
	}
	if err := s.cacheSynced(ctx); err != nil {
		return err
	}
	ru, a := rbac.User{Name: u.Name, Groups: u.Groups}, rbacAttributes(info, method)
	if rbac.Allows(s.cache, ru, a) {
		return nil
	}
	if !a.IsResource {
		return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusForbidden,
			Reason: metav1.StatusReasonForbidden, Message: "forbidden: " + rbac.Forbidden(ru, a), Details: &metav1.StatusDetails{}}}
	}
	return apierrors.NewForbidden(schema.GroupResource{Group: info.APIGroup, Resource: info.Resource}, info.Name, errors.New(rbac.Forbidden(ru, a)))
}

// rbacAttributes: a request as RBAC sees it. Streams into a pod (attach,
// exec, port-forward) are creates whatever their method, as Kubernetes
// authorizes them; a non-resource request's verb is its method.
func rbacAttributes(info RequestInfo, method string) rbac.Attributes {
	if !info.IsResource {
		verb := strings.ToLower(method)
		if verb == "head" {
			verb = "get"
		}
		return rbac.Attributes{Verb: verb, Path: info.Path}
	}
	verb := info.Verb
	switch info.Subresource {
	case "attach", "exec", "portforward":
		verb = "create"
	}
	return rbac.Attributes{IsResource: true, Verb: verb, Namespace: info.Namespace, APIGroup: info.APIGroup,
		Resource: info.Resource, Subresource: info.Subresource, Name: info.Name}
}

func userFrom(ctx context.Context) User {
	u, _ := ctx.Value(userKey{}).(User)
	return u
}
