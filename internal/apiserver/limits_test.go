package apiserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// limitsServer wraps inner in the limits filter of a server with l, as
// the handler chain does (the user comes from the auth filter before).
func limitsServer(l Limits, inner http.Handler) (*Server, http.Handler) {
	s := &Server{cfg: Config{Limits: l}, inflight: newInflight(l), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return s, s.withDeadline(s.withInflightCap(inner))
}

func asUser(method, target string, u User) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	return r.WithContext(context.WithValue(r.Context(), userKey{}, u))
}

var (
	bob   = User{Name: "bob", Groups: []string{"dev", "system:authenticated"}}
	admin = User{Name: "admin", Groups: []string{"system:masters"}}
)

func TestInflightCaps(t *testing.T) {
	cases := []struct {
		name string
		// held is a request in flight while probe is made.
		held, probe *http.Request
		wantCode    int
	}{
		{"a second read over the cap", asUser("GET", "/api/v1/namespaces/default/pods/a", bob), asUser("GET", "/api/v1/pods", bob), http.StatusTooManyRequests},
		{"a second write over the cap", asUser("POST", "/api/v1/namespaces/default/pods", bob), asUser("DELETE", "/api/v1/namespaces/default/pods/a", bob), http.StatusTooManyRequests},
		{"reads and writes are capped apart", asUser("GET", "/api/v1/pods", bob), asUser("POST", "/api/v1/namespaces/default/pods", bob), http.StatusOK},
		{"system:masters is never refused", asUser("GET", "/api/v1/pods", bob), asUser("GET", "/api/v1/pods", admin), http.StatusOK},
		{"watches are not counted", asUser("GET", "/api/v1/pods", bob), asUser("GET", "/api/v1/pods?watch=true", bob), http.StatusOK},
		{"a followed log is not counted", asUser("GET", "/api/v1/pods", bob), asUser("GET", "/api/v1/namespaces/default/pods/a/log?follow=true", bob), http.StatusOK},
		{"a watch does not take a slot", asUser("GET", "/api/v1/pods?watch=1", bob), asUser("GET", "/api/v1/pods", bob), http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			entered, release := make(chan struct{}), make(chan struct{})
			_, h := limitsServer(Limits{MaxRequestsInflight: 1, MaxMutatingRequestsInflight: 1}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("held") == "1" {
					close(entered)
					<-release
				}
			}))
			held := tc.held.Clone(tc.held.Context())
			q := held.URL.Query()
			q.Set("held", "1")
			held.URL.RawQuery = q.Encode()
			done := make(chan struct{})
			go func() { h.ServeHTTP(httptest.NewRecorder(), held); close(done) }()
			<-entered
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, tc.probe)
			close(release)
			<-done
			if rec.Code != tc.wantCode {
				t.Fatalf("code %d, want %d (%s)", rec.Code, tc.wantCode, rec.Body)
			}
			if tc.wantCode == http.StatusTooManyRequests {
				if got := rec.Header().Get("Retry-After"); got != "1" {
					t.Errorf("Retry-After %q, want 1", got)
				}
				if !strings.Contains(rec.Body.String(), "Too many requests") {
					t.Errorf("body %q", rec.Body)
				}
			}
			// The slot is free again.
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, tc.held)
			if rec.Code != http.StatusOK {
				t.Errorf("after release: code %d", rec.Code)
			}
		})
	}
}

func TestRequestDeadlines(t *testing.T) {
	cases := []struct {
		name   string
		limits Limits
		target string
		// want is the deadline's distance from now; 0 is none.
		want time.Duration
	}{
		{"the default", Limits{}, "/api/v1/pods", DefaultRequestTimeout},
		{"--request-timeout", Limits{RequestTimeout: 5 * time.Second}, "/api/v1/pods", 5 * time.Second},
		{"?timeout= shortens it", Limits{RequestTimeout: 5 * time.Second}, "/api/v1/pods?timeout=2s", 2 * time.Second},
		{"?timeout= cannot lengthen it", Limits{RequestTimeout: 5 * time.Second}, "/api/v1/pods?timeout=10m", 5 * time.Second},
		{"a bad ?timeout= is ignored", Limits{RequestTimeout: 5 * time.Second}, "/api/v1/pods?timeout=soon", 5 * time.Second},
		{"a watch has none", Limits{}, "/api/v1/pods?watch=true", 0},
		{"exec has none", Limits{}, "/api/v1/namespaces/default/pods/a/exec?command=sh", 0},
		{"a log read once has one", Limits{}, "/api/v1/namespaces/default/pods/a/log", DefaultRequestTimeout},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got time.Duration
			_, h := limitsServer(tc.limits, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if d, ok := r.Context().Deadline(); ok {
					got = time.Until(d)
				}
			}))
			h.ServeHTTP(httptest.NewRecorder(), asUser("GET", tc.target, bob))
			if tc.want == 0 {
				if got != 0 {
					t.Fatalf("deadline in %s, want none", got)
				}
				return
			}
			if got > tc.want || got < tc.want-time.Second {
				t.Fatalf("deadline in %s, want %s", got, tc.want)
			}
		})
	}
}

func TestTimeoutsAnswer504(t *testing.T) {
	c := newCodecs()
	for _, err := range []error{context.DeadlineExceeded, io.ErrUnexpectedEOF} {
		rec := httptest.NewRecorder()
		c.writeError(rec, err)
		want := http.StatusInternalServerError
		if err == context.DeadlineExceeded {
			want = http.StatusGatewayTimeout
		}
		if rec.Code != want {
			t.Errorf("%v: code %d, want %d", err, rec.Code, want)
		}
		if want == http.StatusGatewayTimeout && !strings.Contains(rec.Body.String(), `"reason":"Timeout"`) {
			t.Errorf("%v: body %s", err, rec.Body)
		}
	}
}

func TestReadyz(t *testing.T) {
	var failing error
	s := &Server{cfg: Config{Ready: func() error { return failing }}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	get := func(target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		s.serveReadyz(rec, httptest.NewRequest("GET", target, nil))
		return rec
	}
	if rec := get("/readyz"); rec.Code != 200 || rec.Body.String() != "ok" {
		t.Fatalf("healthy: %d %q", rec.Code, rec.Body)
	}
	if rec := get("/readyz?verbose"); !strings.Contains(rec.Body.String(), "[+]etcd ok") {
		t.Fatalf("verbose: %q", rec.Body)
	}
	failing = context.DeadlineExceeded
	rec := get("/readyz")
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "[-]etcd failed: reason withheld") {
		t.Fatalf("etcd gone: %d %q", rec.Code, rec.Body)
	}
	failing = nil
	if rec := get("/readyz"); rec.Code != 200 {
		t.Fatalf("recovered: %d", rec.Code)
	}
}
