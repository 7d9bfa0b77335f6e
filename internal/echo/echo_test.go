package echo

import (
	"encoding/json"
	"net/http/httptest"
	"testing"
)

func TestHandler(t *testing.T) {
	cfg := FromEnv(env{"NAMESPACE": "gateway-conformance-infra", "POD_NAME": "infra-backend-v1-abc", "POD_IP": "127.244.0.9"}.get)
	if cfg.HTTPPort != "3000" || cfg.IP != "127.244.0.9" || cfg.H2CPort != "3001" {
		t.Fatalf("config %+v", cfg)
	}
	h := Handler(cfg)
	for _, tc := range []struct {
		target string
		code   int
	}{{"/status/418", 418}, {"/status/x", 400}, {"/health", 200}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.target, nil))
		if rec.Code != tc.code {
			t.Errorf("%s: %d, want %d", tc.target, rec.Code, tc.code)
		}
	}
	req := httptest.NewRequest("POST", "//a//b?q=1", nil) // RequestURI as a server reads it
	req.Host = "example.com"
	req.Header.Set("X-Echo-Set-Header", "X-Foo:one, X-Bar:two")
	req.Header.Add("X-Trace", "t")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var got Request
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Path != "//a//b?q=1" || got.Host != "example.com" || got.Method != "POST" || got.Pod != "infra-backend-v1-abc" ||
		got.Namespace != "gateway-conformance-infra" || got.Headers["X-Trace"][0] != "t" || got.TLS != nil {
		t.Fatalf("echo %+v", got)
	}
	if rec.Header().Get("X-Foo") != "one" || rec.Header().Get("X-Bar") != "two" || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("response headers %v", rec.Header())
	}
}

type env map[string]string

func (e env) get(k string) string { return e[k] }
