package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"

	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// pick finds the listener and rule for a request on a port: the most
// specific listener whose hostname matches the host, then its first rule
// (in precedence order) that matches.
func (p *Port) pick(r *http.Request) (*Listener, *Rule) {
	host := requestHost(r)
	for _, l := range p.Listeners {
		if !hostMatches(l.Hostname, host) {
			continue
		}
		for _, rule := range l.Rules {
			if rule.matches(host, r) {
				return l, rule
			}
		}
		return l, nil
	}
	return nil, nil
}

func requestHost(r *http.Request) string {
	h := r.Host
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

func (rule *Rule) matches(host string, r *http.Request) bool {
	if len(rule.Hostnames) > 0 {
		ok := false
		for _, h := range rule.Hostnames {
			ok = ok || hostMatches(h, host)
		}
		if !ok {
			return false
		}
	}
	m := rule.Match
	switch m.PathType {
	case gwv1.PathMatchExact:
		if r.URL.Path != m.Path {
			return false
		}
	case gwv1.PathMatchRegularExpression:
		if !m.pathRE.MatchString(r.URL.Path) {
			return false
		}
	default:
		if !prefixMatch(m.Path, r.URL.Path) {
			return false
		}
	}
	if m.Method != "" && r.Method != m.Method {
		return false
	}
	for _, h := range m.Headers {
		v, ok := r.Header[h.name]
		if !ok || !h.matches(strings.Join(v, ",")) {
			return false
		}
	}
	if len(m.Query) > 0 {
		q := r.URL.Query()
		for _, qm := range m.Query {
			v, ok := q[qm.name]
			if !ok || !qm.matches(v[0]) {
				return false
			}
		}
	}
	return true
}

func (v valueMatch) matches(s string) bool {
	if v.re != nil {
		return v.re.MatchString(s)
	}
	return s == v.value
}

// prefixMatch is the Gateway API's PathPrefix: element-wise ("/foo"
// matches "/foo", "/foo/" and "/foo/bar", not "/foobar"); a trailing slash
// in the prefix is ignored.
func prefixMatch(prefix, path string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return true
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// replacePrefix replaces a matched prefix of path by repl.
func replacePrefix(path, prefix, repl string) string {
	rest := strings.TrimPrefix(path, strings.TrimSuffix(prefix, "/"))
	out := strings.TrimSuffix(repl, "/") + rest
	if !strings.HasPrefix(out, "/") {
		out = "/" + out
	}
	return out
}

type targetKey struct{}

// target is where a request goes, and what to do to the response.
type target struct {
	url      *url.URL
	host     string
	response *gwv1.HTTPHeaderFilter
}

// handler serves one Gateway port.
type handler struct {
	s    *Server
	port PortKey
	tls  bool
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := h.s.config.Load()
	p := cfg.Ports[h.port]
	if p == nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	_, rule := p.pick(r)
	if rule == nil {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	t := &target{host: r.Host}
	var rewrite *gwv1.HTTPURLRewriteFilter
	for _, f := range rule.Filters {
		switch f.Type {
		case gwv1.HTTPRouteFilterRequestHeaderModifier:
			modifyHeaders(r.Header, f.RequestHeaderModifier)
		case gwv1.HTTPRouteFilterResponseHeaderModifier:
			t.response = f.ResponseHeaderModifier
		case gwv1.HTTPRouteFilterRequestRedirect:
			h.redirect(w, r, rule, f.RequestRedirect)
			return
		case gwv1.HTTPRouteFilterURLRewrite:
			rewrite = f.URLRewrite
		}
	}
	if rule.Invalid {
		http.Error(w, "500 Internal Server Error: no valid backend", http.StatusInternalServerError)
		return
	}
	b, ok := pickBackend(rule.Backends)
	if !ok || b.Service == "" {
		http.Error(w, "500 Internal Server Error: invalid backend", http.StatusInternalServerError)
		return
	}
	ep, err := h.s.endpoint(b)
	if err != nil {
		h.s.log.Debug("no backend", "route", rule.Route, "err", err)
		http.Error(w, "503 Service Unavailable: no ready endpoint", http.StatusServiceUnavailable)
		return
	}
	if rewrite != nil {
		if rewrite.Hostname != nil {
			t.host = string(*rewrite.Hostname)
		}
		if pm := rewrite.Path; pm != nil {
			r.URL.Path, r.URL.RawPath = rewritePath(r.URL.Path, rule, pm), ""
		}
	}
	t.url = &url.URL{Scheme: "http", Host: ep}
	h.s.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, t)))
}

func rewritePath(path string, rule *Rule, pm *gwv1.HTTPPathModifier) string {
	switch {
	case pm.Type == gwv1.FullPathHTTPPathModifier && pm.ReplaceFullPath != nil:
		return *pm.ReplaceFullPath
	case pm.Type == gwv1.PrefixMatchHTTPPathModifier && pm.ReplacePrefixMatch != nil && rule.Match.PathType == gwv1.PathMatchPathPrefix:
		return replacePrefix(path, rule.Match.Path, *pm.ReplacePrefixMatch)
	}
	return path
}

func modifyHeaders(h http.Header, f *gwv1.HTTPHeaderFilter) {
	if f == nil {
		return
	}
	for _, s := range f.Set {
		h.Set(string(s.Name), s.Value)
	}
	for _, a := range f.Add {
		h.Add(string(a.Name), a.Value)
	}
	for _, n := range f.Remove {
		h.Del(n)
	}
}

// redirect answers a RequestRedirect filter.
func (h *handler) redirect(w http.ResponseWriter, r *http.Request, rule *Rule, f *gwv1.HTTPRequestRedirectFilter) {
	scheme := "http"
	if h.tls {
		scheme = "https"
	}
	port := int(h.port.Port)
	if f.Scheme != nil {
		scheme = *f.Scheme
		port = map[string]int{"http": 80, "https": 443}[scheme]
	}
	if f.Port != nil {
		port = int(*f.Port)
	}
	host := requestHost(r)
	if f.Hostname != nil {
		host = string(*f.Hostname)
	}
	path := r.URL.Path
	if f.Path != nil {
		path = rewritePath(path, rule, f.Path)
	}
	loc := url.URL{Scheme: scheme, Host: host, Path: path, RawQuery: r.URL.RawQuery}
	if !(scheme == "http" && port == 80 || scheme == "https" && port == 443) && port != 0 {
		loc.Host = net.JoinHostPort(host, strconv.Itoa(port))
	}
	code := http.StatusFound
	if f.StatusCode != nil {
		code = *f.StatusCode
	}
	http.Redirect(w, r, loc.String(), code)
}

// pickBackend picks a backend by weight; ok false when every weight is 0.
func pickBackend(bs []Backend) (Backend, bool) {
	total := 0
	for _, b := range bs {
		total += int(b.Weight)
	}
	if total <= 0 {
		return Backend{}, false
	}
	n := rand.IntN(total)
	for _, b := range bs {
		if n < int(b.Weight) {
			return b, true
		}
		n -= int(b.Weight)
	}
	return Backend{}, false
}

func newProxy(s *Server) *httputil.ReverseProxy {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 256
	return &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			t := pr.In.Context().Value(targetKey{}).(*target)
			pr.SetURL(t.url)
			pr.Out.URL.Path, pr.Out.URL.RawPath = pr.In.URL.Path, pr.In.URL.RawPath
			pr.Out.Host = t.host
			pr.SetXForwarded()
		},
		ModifyResponse: func(resp *http.Response) error {
			if t, ok := resp.Request.Context().Value(targetKey{}).(*target); ok && t.response != nil {
				modifyHeaders(resp.Header, t.response)
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Debug("backend", "endpoint", r.URL.Host, "err", err)
			http.Error(w, fmt.Sprintf("502 Bad Gateway: %v", err), http.StatusBadGateway)
		},
	}
}
