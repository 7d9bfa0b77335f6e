// Package echo is `svcnet echo`, what the process runtime runs for the
// Gateway API conformance suite's echo-basic image: an HTTP server that
// answers every request with a JSON description of it (path, host, method,
// protocol, headers, the pod's namespace and name, TLS state), as the
// suite's assertions read it; /status/NNN answers NNN, /health OK, and
// `X-Echo-Set-Header: name:value` sets response headers. It serves HTTP on
// HTTP_PORT (3000), HTTP/2 cleartext on H2C_PORT (3001) and, with
// TLS_SERVER_CERT and TLS_SERVER_PRIVKEY, HTTPS on HTTPS_PORT (8443), on
// the pod's IP.
package echo

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is what the server says about itself, from the environment the
// suite's manifests give it.
type Config struct {
	IP                           string // "" listens on every address
	HTTPPort, H2CPort, HTTPSPort string
	CertFile, KeyFile            string
	Namespace, Pod, Service      string
	Ingress                      string
}

// FromEnv reads the echo-basic image's environment.
func FromEnv(getenv func(string) string) Config {
	or := func(k, def string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return def
	}
	ns := getenv("NAMESPACE")
	if ns == "" {
		ns = getenv("POD_NAMESPACE")
	}
	return Config{IP: getenv("POD_IP"), HTTPPort: or("HTTP_PORT", "3000"), H2CPort: or("H2C_PORT", "3001"), HTTPSPort: or("HTTPS_PORT", "8443"),
		CertFile: getenv("TLS_SERVER_CERT"), KeyFile: getenv("TLS_SERVER_PRIVKEY"),
		Namespace: ns, Pod: getenv("POD_NAME"), Service: getenv("SERVICE_NAME"), Ingress: getenv("INGRESS_NAME")}
}

// Request is the JSON answer.
type Request struct {
	Path      string              `json:"path"`
	Host      string              `json:"host"`
	Method    string              `json:"method"`
	Proto     string              `json:"proto"`
	Headers   map[string][]string `json:"headers"`
	HTTPPort  string              `json:"httpPort"`
	Namespace string              `json:"namespace"`
	Ingress   string              `json:"ingress"`
	Service   string              `json:"service"`
	Pod       string              `json:"pod"`
	TLS       *TLS                `json:"tls,omitempty"`
}

// TLS describes the connection's TLS state.
type TLS struct {
	Version            string   `json:"version"`
	PeerCertificates   []string `json:"peerCertificates,omitempty"`
	ServerName         string   `json:"serverName"`
	NegotiatedProtocol string   `json:"negotiatedProtocol,omitempty"`
	CipherSuite        string   `json:"cipherSuite"`
}

var statusPath = regexp.MustCompile(`^/status/(\d\d\d)$`)

// Handler answers as echo-basic does. Paths are taken as sent (no
// cleaning or redirects: the suite checks that slashes survive).
func Handler(cfg Config) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/health":
			_, _ = w.Write([]byte("OK"))
			return
		case strings.HasPrefix(r.URL.Path, "/status/"):
			code := http.StatusBadRequest
			if m := statusPath.FindStringSubmatch(r.RequestURI); m != nil {
				code, _ = strconv.Atoi(m[1])
			}
			w.WriteHeader(code)
			return
		}
		if d := r.URL.Query().Get("delay"); d != "" {
			if t, err := time.ParseDuration(d); err == nil && t <= time.Minute {
				time.Sleep(t)
			}
		}
		body, _ := json.MarshalIndent(Request{
			Path: r.RequestURI, Host: r.Host, Method: r.Method, Proto: r.Proto, Headers: r.Header, HTTPPort: cfg.HTTPPort,
			Namespace: cfg.Namespace, Ingress: cfg.Ingress, Service: cfg.Service, Pod: cfg.Pod, TLS: tlsState(r.TLS),
		}, "", " ")
		for _, list := range r.Header["X-Echo-Set-Header"] {
			for _, kv := range strings.Split(list, ",") {
				name, value, _ := strings.Cut(strings.TrimSpace(kv), ":")
				if len(w.Header()[name]) == 0 {
					w.Header()[name] = []string{value}
				} else {
					w.Header()[name][0] += "," + strings.TrimSpace(value)
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	})
}

func tlsState(s *tls.ConnectionState) *TLS {
	if s == nil {
		return nil
	}
	out := &TLS{ServerName: s.ServerName, NegotiatedProtocol: s.NegotiatedProtocol, CipherSuite: tls.CipherSuiteName(s.CipherSuite)}
	out.Version = map[uint16]string{tls.VersionTLS13: "TLSv1.3", tls.VersionTLS12: "TLSv1.2", tls.VersionTLS11: "TLSv1.1", tls.VersionTLS10: "TLSv1.0"}[s.Version]
	for _, c := range s.PeerCertificates {
		out.PeerCertificates = append(out.PeerCertificates, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})))
	}
	return out
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	h := Handler(cfg)
	var servers []*http.Server
	errc := make(chan error, 3)
	serve := func(port string, srv *http.Server, tlsFiles bool) error {
		ln, err := net.Listen("tcp", net.JoinHostPort(cfg.IP, port))
		if err != nil {
			return err
		}
		servers = append(servers, srv)
		go func() {
			var err error
			if tlsFiles {
				err = srv.ServeTLS(ln, cfg.CertFile, cfg.KeyFile)
			} else {
				err = srv.Serve(ln)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		return nil
	}
	if err := serve(cfg.HTTPPort, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, false); err != nil {
		return err
	}
	h2c := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, Protocols: new(http.Protocols)}
	h2c.Protocols.SetHTTP1(true)
	h2c.Protocols.SetUnencryptedHTTP2(true)
	if err := serve(cfg.H2CPort, h2c, false); err != nil {
		return err
	}
	if cfg.CertFile != "" && cfg.KeyFile != "" {
		if err := serve(cfg.HTTPSPort, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, true); err != nil {
			return err
		}
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(sctx)
	}
	return nil
}
