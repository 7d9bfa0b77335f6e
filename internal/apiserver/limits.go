package apiserver

import (
	"context"
	"errors"
	"net/http"
	"os"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Limits end every request, as kube-apiserver's filters do.
type Limits struct {
	// RequestTimeout ends a request that is not long-running (watch, a
	// followed log, attach, exec) with a 504 Status; a request's own
	// ?timeout= may shorten it. 0 takes DefaultRequestTimeout.
	RequestTimeout time.Duration
	// MaxRequestsInflight and MaxMutatingRequestsInflight cap the reads
	// and the writes being served at once (long-running ones aside); one
	// more is answered 429 with Retry-After. system:masters is never
	// refused, as in Kubernetes. 0 is no cap.
	MaxRequestsInflight, MaxMutatingRequestsInflight int
	// IdleTimeout closes a keep-alive connection that has carried no
	// request for that long. 0 takes DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// Kubernetes' defaults (kube-apiserver's --request-timeout,
// --max-requests-inflight and --max-mutating-requests-inflight), and the
// idle timeout of client-go's own transport.
const (
	DefaultRequestTimeout              = 60 * time.Second
	DefaultMaxRequestsInflight         = 400
	DefaultMaxMutatingRequestsInflight = 200
	DefaultIdleTimeout                 = 90 * time.Second
)

// writeGrace is how long after its deadline a request may still write its
// answer (the 504) before the connection is cut.
const writeGrace = 5 * time.Second

func (l Limits) requestTimeout() time.Duration {
	if l.RequestTimeout > 0 {
		return l.RequestTimeout
	}
	return DefaultRequestTimeout
}

func (l Limits) idleTimeout() time.Duration {
	if l.IdleTimeout > 0 {
		return l.IdleTimeout
	}
	return DefaultIdleTimeout
}

// inflight holds the two caps' semaphores (nil: no cap).
type inflight struct{ reads, writes chan struct{} }

func newInflight(l Limits) inflight {
	var f inflight
	if l.MaxRequestsInflight > 0 {
		f.reads = make(chan struct{}, l.MaxRequestsInflight)
	}
	if l.MaxMutatingRequestsInflight > 0 {
		f.writes = make(chan struct{}, l.MaxMutatingRequestsInflight)
	}
	return f
}

// longRunning: requests that last as long as the client wants, which no
// timeout or in-flight cap applies to.
func longRunning(r *http.Request, info RequestInfo) bool {
	q := r.URL.Query()
	switch {
	case info.Verb == "watch":
		return true
	case info.Subresource == "attach" || info.Subresource == "exec" || info.Subresource == "portforward" || info.Subresource == "proxy":
		return true
	case info.Subresource == "log" && (q.Get("follow") == "true" || q.Get("follow") == "1"):
		return true
	}
	return false
}

// withInflightCap caps the requests in flight (long-running ones aside).
// It comes after authentication: system:masters is never refused.
func (s *Server) withInflightCap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := requestInfoOf(r)
		if longRunning(r, info) {
			h.ServeHTTP(w, r)
			return
		}
		sem := s.inflight.reads
		switch info.Verb {
		case "create", "update", "patch", "delete", "deletecollection":
			sem = s.inflight.writes
		}
		if sem != nil {
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			default:
				if !userFrom(r.Context()).IsAdmin() {
					w.Header().Set("Retry-After", "1")
					http.Error(w, "Too many requests, please try again later.", http.StatusTooManyRequests)
					return
				}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// withDeadline gives every request that is not long-running a deadline,
// before anything else reads it: its context ends then (storage calls end
// with it, and a 504 is answered), and so do the reading of its body and
// the writing of its answer, so a client that trickles its body or never
// reads the answer, authenticated or not, holds nothing for long.
func (s *Server) withDeadline(h http.Handler) http.Handler {
	timeout := s.cfg.Limits.requestTimeout()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if longRunning(r, requestInfoOf(r)) {
			h.ServeHTTP(w, r)
			return
		}
		d := timeout
		if t, err := time.ParseDuration(r.URL.Query().Get("timeout")); err == nil && t > 0 && t < d {
			d = t
		}
		deadline := time.Now().Add(d)
		ctx, cancel := context.WithDeadline(r.Context(), deadline)
		defer cancel()
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(deadline)
		_ = rc.SetWriteDeadline(deadline.Add(writeGrace))
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// requestInfoOf parses what the filters need; a malformed path is left to
// route to refuse.
func requestInfoOf(r *http.Request) RequestInfo {
	w := r.URL.Query().Get("watch")
	info, _ := ParseRequestInfo(r.Method, r.URL.Path, w == "true" || w == "1")
	return info
}

// errRequestTimeout is kube-apiserver's answer to a request that ran out
// of time.
func errRequestTimeout() error {
	return apierrors.NewTimeoutError("request did not complete within the allotted timeout", 0)
}

// isTimeout reports an error that means the request's time ran out: its
// context's deadline, or the read deadline of its body.
func isTimeout(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded)
}

// readyzState remembers whether /readyz failed last, to log each change
// of state once rather than every probe.
type readyzState struct {
	mu      sync.Mutex
	failing bool
}

// serveReadyz answers as kube-apiserver does: "ok" (or the list of checks
// with ?verbose), and 500 with the failed checks, their reasons withheld
// (they are logged), when etcd cannot be reached.
func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	var err error
	if s.cfg.Ready != nil {
		err = s.cfg.Ready()
	}
	s.readyz.mu.Lock()
	if (err != nil) != s.readyz.failing {
		s.readyz.failing = err != nil
		if err != nil {
			s.log.Warn("readyz: etcd check failed", "err", err)
		} else {
			s.log.Info("readyz: etcd check passes again")
		}
	}
	s.readyz.mu.Unlock()
	if err != nil {
		http.Error(w, "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		_, _ = w.Write([]byte("[+]ping ok\n[+]etcd ok\nreadyz check passed\n"))
		return
	}
	_, _ = w.Write([]byte("ok"))
}
