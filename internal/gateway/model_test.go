package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func class() *gwv1.GatewayClass {
	return &gwv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "svcnet"}, Spec: gwv1.GatewayClassSpec{ControllerName: ControllerName}}
}

func gw(ns, name string, ls ...gwv1.Listener) *gwv1.Gateway {
	return &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 2},
		Spec: gwv1.GatewaySpec{GatewayClassName: "svcnet", Listeners: ls}}
}

func listener(name string, port int32, proto gwv1.ProtocolType, host string) gwv1.Listener {
	l := gwv1.Listener{Name: gwv1.SectionName(name), Port: gwv1.PortNumber(port), Protocol: proto}
	if host != "" {
		l.Hostname = ptr(gwv1.Hostname(host))
	}
	return l
}

func route(ns, name string, parent string, hosts []string, rules ...gwv1.HTTPRouteRule) *gwv1.HTTPRoute {
	r := &gwv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Generation: 1, CreationTimestamp: metav1.NewTime(t0)},
		Spec: gwv1.HTTPRouteSpec{CommonRouteSpec: gwv1.CommonRouteSpec{ParentRefs: []gwv1.ParentReference{{Name: gwv1.ObjectName(parent)}}}, Rules: rules}}
	for _, h := range hosts {
		r.Spec.Hostnames = append(r.Spec.Hostnames, gwv1.Hostname(h))
	}
	return r
}

func backend(ns, name string, port int32, weight int32) gwv1.HTTPBackendRef {
	b := gwv1.HTTPBackendRef{BackendRef: gwv1.BackendRef{BackendObjectReference: gwv1.BackendObjectReference{Name: gwv1.ObjectName(name), Port: ptr(gwv1.PortNumber(port))}, Weight: ptr(weight)}}
	if ns != "" {
		b.Namespace = ptr(gwv1.Namespace(ns))
	}
	return b
}

func pathRule(typ gwv1.PathMatchType, path string, backends ...gwv1.HTTPBackendRef) gwv1.HTTPRouteRule {
	return gwv1.HTTPRouteRule{Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr(typ), Value: ptr(path)}}}, BackendRefs: backends}
}

func services(keys ...string) map[string]*corev1.Service {
	out := map[string]*corev1.Service{}
	for _, k := range keys {
		out[k] = &corev1.Service{}
	}
	return out
}

func condOf(cs []metav1.Condition, t string) metav1.Condition {
	for _, c := range cs {
		if c.Type == t {
			return c
		}
	}
	return metav1.Condition{}
}

func TestCompileStatuses(t *testing.T) {
	certPEM, keyPEM := selfSigned(t, "secure.example.com")
	tlsSecret := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}}
	malformed := &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: []byte("not a certificate"), corev1.TLSPrivateKeyKey: keyPEM}}
	https := listener("https", 443, gwv1.HTTPSProtocolType, "secure.example.com")
	https.TLS = &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "cert"}}}
	noCert := listener("nocert", 8443, gwv1.HTTPSProtocolType, "")
	noCert.TLS = &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "missing"}}}
	badCert := listener("badcert", 9443, gwv1.HTTPSProtocolType, "")
	badCert.TLS = &gwv1.ListenerTLSConfig{CertificateRefs: []gwv1.SecretObjectReference{{Name: "malformed"}}}
	all := listener("all", 8080, gwv1.HTTPProtocolType, "")
	all.AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr(gwv1.NamespacesFromAll)}}
	selected := listener("selected", 8081, gwv1.HTTPProtocolType, "")
	selected.AllowedRoutes = &gwv1.AllowedRoutes{Namespaces: &gwv1.RouteNamespaces{From: ptr(gwv1.NamespacesFromSelector),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a"}}}}
	g := gw("infra", "web",
		listener("http", 80, gwv1.HTTPProtocolType, "*.example.com"),
		https, noCert, badCert, all, selected,
		listener("tcp", 9000, gwv1.TCPProtocolType, ""),
		listener("dup-a", 81, gwv1.HTTPProtocolType, "a.example.com"),
		listener("dup-b", 81, gwv1.HTTPProtocolType, "a.example.com"),
	)
	other := &gwv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "infra", Name: "theirs"}, Spec: gwv1.GatewaySpec{GatewayClassName: "other"}}
	w := World{
		Classes:  []*gwv1.GatewayClass{class(), {ObjectMeta: metav1.ObjectMeta{Name: "other"}, Spec: gwv1.GatewayClassSpec{ControllerName: "example.com/other"}}},
		Gateways: []*gwv1.Gateway{g, other},
		Routes: []*gwv1.HTTPRoute{
			// Same namespace, on the wildcard listener by section name.
			withSection(route("infra", "same", "web", []string{"app.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backend("", "app", 80, 1))), "http"),
			// Another namespace: only listeners allowing it accept it.
			withNamespace(route("team-a", "cross", "web", nil, pathRule(gwv1.PathMatchPathPrefix, "/", backend("", "app", 80, 1))), "infra"),
			withNamespace(route("team-b", "denied", "web", nil, pathRule(gwv1.PathMatchPathPrefix, "/", backend("", "app", 80, 1))), "infra"),
			// Hostname outside every listener's that names one.
			withSection(route("infra", "elsewhere", "web", []string{"other.org"}, pathRule(gwv1.PathMatchPathPrefix, "/", backend("", "app", 80, 1))), "http"),
			// A missing section.
			withSection(route("infra", "nosection", "web", nil, pathRule(gwv1.PathMatchPathPrefix, "/")), "nope"),
			// Backends: missing, cross-namespace without and with a grant.
			withSection(route("infra", "missing", "web", nil, pathRule(gwv1.PathMatchPathPrefix, "/", backend("", "gone", 80, 1))), "http"),
			withSection(route("infra", "ungranted", "web", nil, pathRule(gwv1.PathMatchPathPrefix, "/", backend("apps", "app", 80, 1))), "http"),
			withSection(route("infra", "granted", "web", nil, pathRule(gwv1.PathMatchPathPrefix, "/", backend("granted", "app", 80, 1))), "http"),
			// No section: every listener that allows it.
			route("infra", "everywhere", "web", nil, pathRule(gwv1.PathMatchPathPrefix, "/", backend("", "app", 80, 1))),
			// A route of another controller's Gateway gets no status from us.
			route("infra", "foreign", "theirs", nil, pathRule(gwv1.PathMatchPathPrefix, "/")),
		},
		Grants: []*gwv1.ReferenceGrant{{ObjectMeta: metav1.ObjectMeta{Namespace: "granted"}, Spec: gwv1.ReferenceGrantSpec{
			From: []gwv1.ReferenceGrantFrom{{Group: group, Kind: kindHTTPRoute, Namespace: "infra"}},
			To:   []gwv1.ReferenceGrantTo{{Group: "", Kind: "Service"}},
		}}},
		Services:   services("infra/app", "team-a/app", "team-b/app", "apps/app", "granted/app"),
		Secrets:    map[string]*corev1.Secret{"infra/cert": tlsSecret, "infra/malformed": malformed},
		Namespaces: map[string]labels.Set{"infra": nil, "team-a": {"team": "a"}, "team-b": {"team": "b"}},
		Addresses:  map[string]string{"infra/web": "127.98.0.7"},
	}
	cfg := Compile(w, t0)

	if c := condOf(cfg.Classes["svcnet"].Conditions, "Accepted"); c.Status != metav1.ConditionTrue {
		t.Fatalf("class: %+v", c)
	}
	if _, ok := cfg.Classes["other"]; ok {
		t.Fatal("another controller's class got a status")
	}
	st := cfg.Gateways["infra/web"]
	if len(st.Addresses) != 1 || st.Addresses[0].Value != "127.98.0.7" || condOf(st.Conditions, "Programmed").Status != metav1.ConditionTrue {
		t.Fatalf("gateway status %+v", st)
	}
	if c := condOf(st.Conditions, "Accepted"); c.Reason != string(gwv1.GatewayReasonListenersNotValid) || c.ObservedGeneration != 2 {
		t.Fatalf("gateway Accepted %+v", c)
	}
	wantListener := map[string]struct {
		typ, reason string
		status      metav1.ConditionStatus
		attached    int32
	}{
		"http":     {"Programmed", "Programmed", metav1.ConditionTrue, 5},
		"https":    {"ResolvedRefs", "ResolvedRefs", metav1.ConditionTrue, 1},
		"nocert":   {"ResolvedRefs", "InvalidCertificateRef", metav1.ConditionFalse, 1}, // routes attach all the same
		"badcert":  {"ResolvedRefs", "InvalidCertificateRef", metav1.ConditionFalse, 1},
		"all":      {"Accepted", "Accepted", metav1.ConditionTrue, 3},
		"dup-b":    {"Conflicted", "HostnameConflict", metav1.ConditionTrue, 0},
		"selected": {"Accepted", "Accepted", metav1.ConditionTrue, 1},
		"tcp":      {"Accepted", "UnsupportedProtocol", metav1.ConditionFalse, 0},
		"dup-a":    {"Conflicted", "HostnameConflict", metav1.ConditionTrue, 0},
	}
	for _, ls := range st.Listeners {
		want, ok := wantListener[string(ls.Name)]
		if !ok {
			continue
		}
		c := condOf(ls.Conditions, want.typ)
		if c.Status != want.status || c.Reason != want.reason || ls.AttachedRoutes != want.attached {
			t.Errorf("listener %s: %s %+v attached %d, want %+v", ls.Name, want.typ, c, ls.AttachedRoutes, want)
		}
	}
	routeWant := map[string][2]string{ // Accepted reason, ResolvedRefs reason
		"infra/same":       {"Accepted", "ResolvedRefs"},
		"team-a/cross":     {"Accepted", "ResolvedRefs"},
		"team-b/denied":    {"Accepted", "ResolvedRefs"}, // the "all" listener takes it
		"infra/elsewhere":  {"NoMatchingListenerHostname", "ResolvedRefs"},
		"infra/nosection":  {"NoMatchingParent", "ResolvedRefs"},
		"infra/missing":    {"Accepted", "BackendNotFound"},
		"infra/ungranted":  {"Accepted", "RefNotPermitted"},
		"infra/granted":    {"Accepted", "ResolvedRefs"},
		"infra/everywhere": {"Accepted", "ResolvedRefs"},
	}
	for k, want := range routeWant {
		ps := cfg.Routes[k]
		if len(ps) != 1 || ps[0].ControllerName != ControllerName {
			t.Errorf("%s: parents %+v", k, ps)
			continue
		}
		if a, r := condOf(ps[0].Conditions, "Accepted"), condOf(ps[0].Conditions, "ResolvedRefs"); a.Reason != want[0] || r.Reason != want[1] {
			t.Errorf("%s: Accepted %s ResolvedRefs %s, want %v", k, a.Reason, r.Reason, want)
		}
	}
	if _, ok := cfg.Routes["infra/foreign"]; ok {
		t.Error("a route of another controller's Gateway got a status")
	}
	// Only accepted listeners are served: 80, 443, 8080, 8081.
	for _, port := range []int32{80, 443, 8080, 8081} {
		if cfg.Ports[PortKey{"infra", "web", port}] == nil {
			t.Errorf("port %d not served", port)
		}
	}
	for _, port := range []int32{8443, 9443, 9000, 81} {
		if cfg.Ports[PortKey{"infra", "web", port}] != nil {
			t.Errorf("port %d served", port)
		}
	}
	// An invalid backend makes its rule answer 500.
	for _, r := range cfg.Ports[PortKey{"infra", "web", 80}].Listeners[0].Rules {
		if r.Route == "infra/missing" && !r.Invalid || r.Route == "infra/same" && r.Invalid {
			t.Errorf("%s invalid=%v", r.Route, r.Invalid)
		}
	}
	// Without an address the Gateway is not Programmed.
	w.Addresses = nil
	if c := condOf(Compile(w, t0).Gateways["infra/web"].Conditions, "Programmed"); c.Status != metav1.ConditionFalse || c.Reason != "AddressNotAssigned" {
		t.Errorf("no address: %+v", c)
	}
}

func withSection(r *gwv1.HTTPRoute, s string) *gwv1.HTTPRoute {
	r.Spec.ParentRefs[0].SectionName = ptr(gwv1.SectionName(s))
	return r
}

func withNamespace(r *gwv1.HTTPRoute, ns string) *gwv1.HTTPRoute {
	r.Spec.ParentRefs[0].Namespace = ptr(gwv1.Namespace(ns))
	return r
}

func TestIntersect(t *testing.T) {
	for _, tc := range []struct {
		listener string
		route    []gwv1.Hostname
		want     []string
		ok       bool
	}{
		{"", nil, nil, true},
		{"a.example.com", nil, []string{"a.example.com"}, true},
		{"*.example.com", []gwv1.Hostname{"a.example.com", "other.org"}, []string{"a.example.com"}, true},
		{"a.example.com", []gwv1.Hostname{"*.example.com"}, []string{"a.example.com"}, true},
		{"*.example.com", []gwv1.Hostname{"*.a.example.com"}, []string{"*.a.example.com"}, true},
		{"a.example.com", []gwv1.Hostname{"b.example.com"}, nil, false},
		{"*.example.com", []gwv1.Hostname{"example.com"}, nil, false},
	} {
		got, ok := intersect(tc.listener, tc.route)
		if ok != tc.ok || len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
			t.Errorf("intersect(%q, %v) = %v %v, want %v %v", tc.listener, tc.route, got, ok, tc.want, tc.ok)
		}
	}
}

// Requests pick rules by the Gateway API's precedence.
func TestPickPrecedence(t *testing.T) {
	get := gwv1.HTTPMethodGet
	rules := []gwv1.HTTPRouteRule{
		pathRule(gwv1.PathMatchPathPrefix, "/", backend("", "root", 80, 1)),
		pathRule(gwv1.PathMatchPathPrefix, "/api", backend("", "api", 80, 1)),
		pathRule(gwv1.PathMatchPathPrefix, "/api/v2", backend("", "api-v2", 80, 1)),
		pathRule(gwv1.PathMatchExact, "/api", backend("", "api-exact", 80, 1)),
		{Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr(gwv1.PathMatchPathPrefix), Value: ptr("/api")}, Method: &get,
			Headers: []gwv1.HTTPHeaderMatch{{Name: "X-Version", Value: "canary"}}}}, BackendRefs: []gwv1.HTTPBackendRef{backend("", "canary", 80, 1)}},
		{Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr(gwv1.PathMatchPathPrefix), Value: ptr("/api")},
			QueryParams: []gwv1.HTTPQueryParamMatch{{Name: "debug", Value: "1"}}}}, BackendRefs: []gwv1.HTTPBackendRef{backend("", "debug", 80, 1)}},
		{Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr(gwv1.PathMatchRegularExpression), Value: ptr("/re/[0-9]+")}}}, BackendRefs: []gwv1.HTTPBackendRef{backend("", "regex", 80, 1)}},
	}
	svcs := services("default/root", "default/api", "default/api-v2", "default/api-exact", "default/canary", "default/debug", "default/regex", "default/host")
	older := route("default", "a-host", "web", []string{"host.example.com"}, pathRule(gwv1.PathMatchPathPrefix, "/", backend("", "host", 80, 1)))
	w := World{Classes: []*gwv1.GatewayClass{class()}, Gateways: []*gwv1.Gateway{gw("default", "web", listener("http", 80, gwv1.HTTPProtocolType, ""))},
		Routes: []*gwv1.HTTPRoute{route("default", "b-main", "web", nil, rules...), older}, Services: svcs}
	p := Compile(w, t0).Ports[PortKey{"default", "web", 80}]
	for _, tc := range []struct {
		method, target, host string
		header               [2]string
		want                 string
	}{
		{"GET", "/", "x", [2]string{}, "root"},
		{"GET", "/apix", "x", [2]string{}, "root"},
		{"GET", "/api", "x", [2]string{}, "api-exact"},
		{"GET", "/api/", "x", [2]string{}, "api"},
		{"GET", "/api/v2/x", "x", [2]string{}, "api-v2"},
		{"GET", "/api/x", "x", [2]string{"X-Version", "canary"}, "canary"},
		{"POST", "/api/x", "x", [2]string{"X-Version", "canary"}, "api"},
		{"GET", "/api/x?debug=1", "x", [2]string{}, "debug"},
		{"GET", "/re/42", "x", [2]string{}, "regex"},
		{"GET", "/re/x", "x", [2]string{}, "root"},
		{"GET", "/api/v2/x", "HOST.example.com:80", [2]string{}, "host"}, // a route's hostname wins over any path
	} {
		r := httptest.NewRequest(tc.method, "http://"+tc.host+tc.target, nil)
		if tc.header[0] != "" {
			r.Header.Set(tc.header[0], tc.header[1])
		}
		_, rule := p.pick(r)
		if rule == nil || rule.Backends[0].Service != tc.want {
			got := "<none>"
			if rule != nil {
				got = rule.Backends[0].Service
			}
			t.Errorf("%s %s host %s: %s, want %s", tc.method, tc.target, tc.host, got, tc.want)
		}
	}
}

// Redirects, rewrites, header filters and the answers without a backend.
func TestFilters(t *testing.T) {
	redirect := gwv1.HTTPRouteRule{
		Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr(gwv1.PathMatchPathPrefix), Value: ptr("/old")}}},
		Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gwv1.HTTPRequestRedirectFilter{
			Scheme: ptr("https"), Hostname: ptr(gwv1.PreciseHostname("new.example.com")), StatusCode: ptr(301),
			Path: &gwv1.HTTPPathModifier{Type: gwv1.PrefixMatchHTTPPathModifier, ReplacePrefixMatch: ptr("/new")}}}},
	}
	portRedirect := gwv1.HTTPRouteRule{
		Matches: []gwv1.HTTPRouteMatch{{Path: &gwv1.HTTPPathMatch{Type: ptr(gwv1.PathMatchExact), Value: ptr("/port")}}},
		Filters: []gwv1.HTTPRouteFilter{{Type: gwv1.HTTPRouteFilterRequestRedirect, RequestRedirect: &gwv1.HTTPRequestRedirectFilter{Port: ptr(gwv1.PortNumber(8080))}}},
	}
	invalid := pathRule(gwv1.PathMatchPathPrefix, "/broken", backend("", "gone", 80, 1))
	w := World{Classes: []*gwv1.GatewayClass{class()}, Gateways: []*gwv1.Gateway{gw("default", "web", listener("http", 80, gwv1.HTTPProtocolType, ""))},
		Routes: []*gwv1.HTTPRoute{route("default", "r", "web", nil, redirect, portRedirect, invalid)}, Services: services()}
	s := &Server{}
	s.config.Store(Compile(w, t0))
	h := &handler{s: s, port: PortKey{"default", "web", 80}}
	for _, tc := range []struct {
		target   string
		code     int
		location string
	}{
		{"/old/page?q=1", 301, "https://new.example.com/new/page?q=1"},
		{"/old", 301, "https://new.example.com/new"},
		{"/port", 302, "http://example.com:8080/port"},
		{"/broken", 500, ""},
		{"/nothing", 404, ""},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://example.com"+tc.target, nil))
		if rec.Code != tc.code || rec.Header().Get("Location") != tc.location {
			t.Errorf("%s: %d %q, want %d %q", tc.target, rec.Code, rec.Header().Get("Location"), tc.code, tc.location)
		}
	}
	// Header modifiers and path rewrites.
	hdr := http.Header{"Keep": {"1"}, "Drop": {"x"}, "Add": {"a"}}
	modifyHeaders(hdr, &gwv1.HTTPHeaderFilter{Set: []gwv1.HTTPHeader{{Name: "Keep", Value: "2"}}, Add: []gwv1.HTTPHeader{{Name: "Add", Value: "b"}}, Remove: []string{"Drop"}})
	if hdr.Get("Keep") != "2" || len(hdr.Values("Add")) != 2 || hdr.Get("Drop") != "" {
		t.Errorf("headers %v", hdr)
	}
	for _, tc := range []struct{ path, prefix, repl, want string }{
		{"/foo/bar", "/foo", "/baz", "/baz/bar"},
		{"/foo", "/foo", "/baz", "/baz"},
		{"/foo/bar", "/foo/", "/", "/bar"},
		{"/foo", "/foo", "/", "/"},
		{"/foo/bar", "/foo", "/baz/", "/baz/bar"},
	} {
		if got := replacePrefix(tc.path, tc.prefix, tc.repl); got != tc.want {
			t.Errorf("replacePrefix(%q, %q, %q) = %q, want %q", tc.path, tc.prefix, tc.repl, got, tc.want)
		}
	}
}

func TestPickBackendWeights(t *testing.T) {
	bs := []Backend{{Service: "a", Weight: 90}, {Service: "b", Weight: 10}, {Service: "c", Weight: 0}}
	counts := map[string]int{}
	for range 20000 {
		b, ok := pickBackend(bs)
		if !ok {
			t.Fatal("no backend")
		}
		counts[b.Service]++
	}
	if counts["c"] != 0 || counts["b"] < 1600 || counts["b"] > 2400 {
		t.Fatalf("weights 90/10/0 gave %v", counts)
	}
	if _, ok := pickBackend([]Backend{{Service: "a"}}); ok {
		t.Fatal("all-zero weights picked a backend")
	}
}

func selfSigned(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
}

// A Gateway none of whose listeners is accepted is not accepted.
func TestGatewayWithoutAcceptedListeners(t *testing.T) {
	w := World{Classes: []*gwv1.GatewayClass{class()}, Gateways: []*gwv1.Gateway{
		gw("infra", "none", listener("udp", 53, gwv1.UDPProtocolType, "")),
		gw("infra", "some", listener("udp", 53, gwv1.UDPProtocolType, ""), listener("http", 80, gwv1.HTTPProtocolType, "")),
	}}
	cfg := Compile(w, t0)
	for name, want := range map[string]metav1.ConditionStatus{"infra/none": metav1.ConditionFalse, "infra/some": metav1.ConditionTrue} {
		c := condOf(cfg.Gateways[name].Conditions, "Accepted")
		if c.Status != want || c.Reason != string(gwv1.GatewayReasonListenersNotValid) {
			t.Errorf("%s: Accepted %+v, want %s ListenersNotValid", name, c, want)
		}
	}
}

func TestServiceName(t *testing.T) {
	if got := serviceName("web"); got != "svcnet-gateway-web" {
		t.Fatalf("short name %q", got)
	}
	a, b := serviceName(strings.Repeat("a", 60)+"x"), serviceName(strings.Repeat("a", 60)+"y")
	if len(a) > 63 || len(b) > 63 || a == b {
		t.Fatalf("long names %q %q", a, b)
	}
}
