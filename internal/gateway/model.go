package gateway

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// World is what the controller reads: every object that decides routing
// and status.
type World struct {
	Classes    []*gwv1.GatewayClass
	Gateways   []*gwv1.Gateway
	Routes     []*gwv1.HTTPRoute
	Grants     []*gwv1.ReferenceGrant
	Services   map[string]*corev1.Service // "ns/name"
	Secrets    map[string]*corev1.Secret  // "ns/name"
	Namespaces map[string]labels.Set      // name ▶ labels
	// Addresses are the Gateways' assigned addresses, "ns/name" ▶ IP.
	Addresses map[string]string
}

// Config is the data plane's routing, and the status every object should
// have.
type Config struct {
	// Ports are the sockets to serve: one per Gateway port.
	Ports map[PortKey]*Port
	// Class, Gateway and Route statuses to write, by "ns/name" ("" ns for
	// classes).
	Classes  map[string]gwv1.GatewayClassStatus
	Gateways map[string]gwv1.GatewayStatus
	Routes   map[string][]gwv1.RouteParentStatus
}

// PortKey names one Gateway's port.
type PortKey struct {
	Namespace, Gateway string
	Port               int32
}

// Port is what one Gateway serves on one port.
type Port struct {
	TLS       bool
	Listeners []*Listener // most specific hostname first
}

// Listener is one accepted listener and the route rules attached to it.
type Listener struct {
	Name     string
	Hostname string // "" matches any host
	// Certs are the kubernetes.io/tls Secrets ("ns/name") of an HTTPS
	// listener.
	Certs []string
	Rules []*Rule // in precedence order
}

// Rule is one match of one route rule on a listener.
type Rule struct {
	Route     string   // "ns/name", for logs
	Hostnames []string // the route's hostnames on this listener; none: any
	Match     Match
	Filters   []gwv1.HTTPRouteFilter
	Backends  []Backend
	// Invalid: every backend was invalid and no filter answers: 500.
	Invalid bool
	created time.Time
}

// Match is a request match, compiled.
type Match struct {
	PathType gwv1.PathMatchType
	Path     string
	pathRE   *regexp.Regexp
	Method   string
	Headers  []valueMatch
	Query    []valueMatch
}

type valueMatch struct {
	name, value string
	re          *regexp.Regexp
}

// Backend is a weighted Service port (Service "" is an invalid reference:
// its share of requests gets 500).
type Backend struct {
	Namespace, Service string
	Port               int32
	Weight             int32
}

const (
	// ControllerName is the GatewayClass controllerName svcnet serves.
	ControllerName = "svcnet.io/gateway-controller"
	kindGateway    = "Gateway"
	kindHTTPRoute  = "HTTPRoute"
	group          = gwv1.GroupName
)

func key(ns, name string) string { return ns + "/" + name }

func cond(t, reason, msg string, ok bool, gen int64, now metav1.Time) metav1.Condition {
	st := metav1.ConditionFalse
	if ok {
		st = metav1.ConditionTrue
	}
	return metav1.Condition{Type: t, Status: st, Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: now}
}

// Compile turns the world into routing and statuses. It is pure.
func Compile(w World, now time.Time) *Config {
	t := metav1.NewTime(now.Truncate(time.Second))
	cfg := &Config{Ports: map[PortKey]*Port{}, Classes: map[string]gwv1.GatewayClassStatus{},
		Gateways: map[string]gwv1.GatewayStatus{}, Routes: map[string][]gwv1.RouteParentStatus{}}
	ours := map[string]bool{}
	for _, c := range w.Classes {
		if c.Spec.ControllerName != ControllerName {
			continue
		}
		ours[c.Name] = true
		cfg.Classes[c.Name] = gwv1.GatewayClassStatus{
			Conditions: []metav1.Condition{
				cond(string(gwv1.GatewayClassConditionStatusAccepted), string(gwv1.GatewayClassReasonAccepted), "svcnet serves this class", true, c.Generation, t),
				cond(string(gwv1.GatewayClassConditionStatusSupportedVersion), string(gwv1.GatewayClassReasonSupportedVersion), "the installed Gateway API version is supported", true, c.Generation, t),
			},
			SupportedFeatures: supportedFeatures(),
		}
	}
	// Listeners of our Gateways, and their status.
	type gwListener struct {
		gw  *gwv1.Gateway
		l   gwv1.Listener
		out *Listener
		st  *gwv1.ListenerStatus
		ok  bool
	}
	var listeners []*gwListener
	gws := map[string]*gwv1.Gateway{}
	gwStatus := map[string]*gwv1.GatewayStatus{}
	for _, gw := range sortedGateways(w.Gateways) {
		if !ours[string(gw.Spec.GatewayClassName)] || gw.DeletionTimestamp != nil {
			continue
		}
		k := key(gw.Namespace, gw.Name)
		gws[k] = gw
		st := &gwv1.GatewayStatus{}
		gwStatus[k] = st
		byPort := map[int32][]gwv1.Listener{}
		for _, l := range gw.Spec.Listeners {
			byPort[l.Port] = append(byPort[l.Port], l)
		}
		for _, l := range gw.Spec.Listeners {
			ls := gwv1.ListenerStatus{Name: l.Name, SupportedKinds: []gwv1.RouteGroupKind{}}
			accepted, reason, msg := true, string(gwv1.ListenerReasonAccepted), "listener accepted"
			resolved, rreason, rmsg := true, string(gwv1.ListenerReasonResolvedRefs), "references resolved"
			conflicted, creason := false, string(gwv1.ListenerReasonNoConflicts)
			switch l.Protocol {
			case gwv1.HTTPProtocolType, gwv1.HTTPSProtocolType:
			default:
				accepted, reason, msg = false, string(gwv1.ListenerReasonUnsupportedProtocol), fmt.Sprintf("protocol %s is not supported", l.Protocol)
			}
			for _, o := range byPort[l.Port] {
				if o.Name == l.Name {
					continue
				}
				if isTLS(o.Protocol) != isTLS(l.Protocol) {
					conflicted, creason = true, string(gwv1.ListenerReasonProtocolConflict)
				} else if hostOf(o.Hostname) == hostOf(l.Hostname) {
					conflicted, creason = true, string(gwv1.ListenerReasonHostnameConflict)
				}
			}
			// Route kinds.
			kinds := []gwv1.RouteGroupKind{{Group: ptr(gwv1.Group(group)), Kind: kindHTTPRoute}}
			if l.AllowedRoutes != nil && len(l.AllowedRoutes.Kinds) > 0 {
				kinds = nil
				for _, k := range l.AllowedRoutes.Kinds {
					if (k.Group == nil || *k.Group == group) && k.Kind == kindHTTPRoute {
						kinds = append(kinds, gwv1.RouteGroupKind{Group: ptr(gwv1.Group(group)), Kind: kindHTTPRoute})
					} else {
						resolved, rreason, rmsg = false, string(gwv1.ListenerReasonInvalidRouteKinds), fmt.Sprintf("route kind %s is not supported", k.Kind)
					}
				}
			}
			if accepted {
				ls.SupportedKinds = kinds
				if kinds == nil {
					ls.SupportedKinds = []gwv1.RouteGroupKind{}
				}
			}
			var certs []string
			if l.Protocol == gwv1.HTTPSProtocolType {
				if l.TLS == nil || len(l.TLS.CertificateRefs) == 0 {
					resolved, rreason, rmsg = false, string(gwv1.ListenerReasonInvalidCertificateRef), "an HTTPS listener needs a certificate"
				} else if l.TLS.Mode != nil && *l.TLS.Mode != gwv1.TLSModeTerminate {
					accepted, reason, msg = false, string(gwv1.ListenerReasonUnsupportedValue), "only TLS mode Terminate is supported"
				}
				if l.TLS != nil {
					for _, ref := range l.TLS.CertificateRefs {
						ns := gw.Namespace
						if ref.Namespace != nil {
							ns = string(*ref.Namespace)
						}
						switch {
						case ref.Group != nil && *ref.Group != "" || ref.Kind != nil && *ref.Kind != "Secret":
							resolved, rreason, rmsg = false, string(gwv1.ListenerReasonInvalidCertificateRef), "certificateRefs must be Secrets"
						case ns != gw.Namespace && !granted(w.Grants, group, kindGateway, gw.Namespace, "", "Secret", ns, string(ref.Name)):
							resolved, rreason, rmsg = false, string(gwv1.ListenerReasonRefNotPermitted), fmt.Sprintf("no ReferenceGrant allows Secret %s/%s", ns, ref.Name)
						default:
							sec := w.Secrets[key(ns, string(ref.Name))]
							if sec == nil || sec.Type != corev1.SecretTypeTLS || !validKeyPair(sec) {
								resolved, rreason, rmsg = false, string(gwv1.ListenerReasonInvalidCertificateRef), fmt.Sprintf("Secret %s/%s is not a kubernetes.io/tls Secret", ns, ref.Name)
							} else {
								certs = append(certs, key(ns, string(ref.Name)))
							}
						}
					}
				}
			}
			// Routes attach to accepted listeners, unresolved references
			// or not; only listeners whose references resolve are served.
			attachable := accepted && !conflicted
			ok := attachable && resolved
			programmed, preason := ok, string(gwv1.ListenerReasonProgrammed)
			if !ok {
				preason = string(gwv1.ListenerReasonInvalid)
			}
			ls.Conditions = []metav1.Condition{
				cond(string(gwv1.ListenerConditionAccepted), reason, msg, accepted, gw.Generation, t),
				cond(string(gwv1.ListenerConditionConflicted), creason, "", conflicted, gw.Generation, t),
				cond(string(gwv1.ListenerConditionResolvedRefs), rreason, rmsg, resolved, gw.Generation, t),
				cond(string(gwv1.ListenerConditionProgrammed), preason, "", programmed, gw.Generation, t),
			}
			st.Listeners = append(st.Listeners, ls)
			gl := &gwListener{gw: gw, l: l, st: &st.Listeners[len(st.Listeners)-1], ok: attachable}
			if attachable {
				gl.out = &Listener{Name: string(l.Name), Hostname: hostOf(l.Hostname), Certs: certs}
			}
			if ok {
				pk := PortKey{gw.Namespace, gw.Name, int32(l.Port)}
				p := cfg.Ports[pk]
				if p == nil {
					p = &Port{TLS: isTLS(l.Protocol)}
					cfg.Ports[pk] = p
				}
				p.Listeners = append(p.Listeners, gl.out)
			}
			listeners = append(listeners, gl)
		}
	}
	// Listener status pointers moved when the slices grew: take them again.
	for _, gl := range listeners {
		st := gwStatus[key(gl.gw.Namespace, gl.gw.Name)]
		for i := range st.Listeners {
			if st.Listeners[i].Name == gl.l.Name {
				gl.st = &st.Listeners[i]
			}
		}
	}
	// Routes.
	for _, r := range sortedRoutes(w.Routes) {
		if r.DeletionTimestamp != nil {
			continue
		}
		var parents []gwv1.RouteParentStatus
		rules, resolvedOK, resolvedReason, resolvedMsg := compileRules(w, r)
		for _, pr := range r.Spec.ParentRefs {
			if pr.Group != nil && *pr.Group != group || pr.Kind != nil && *pr.Kind != kindGateway {
				continue
			}
			ns := r.Namespace
			if pr.Namespace != nil {
				ns = string(*pr.Namespace)
			}
			gw := gws[key(ns, string(pr.Name))]
			if gw == nil {
				continue // not a Gateway of ours
			}
			attached, reason := 0, string(gwv1.RouteReasonNoMatchingParent)
			for _, gl := range listeners {
				if gl.gw != gw {
					continue
				}
				if pr.SectionName != nil && *pr.SectionName != gl.l.Name || pr.Port != nil && *pr.Port != gl.l.Port {
					continue
				}
				if !gl.ok {
					if reason == string(gwv1.RouteReasonNoMatchingParent) {
						reason = string(gwv1.RouteReasonNotAllowedByListeners)
					}
					continue
				}
				if !allowed(w, gl.gw, gl.l, r.Namespace) {
					reason = string(gwv1.RouteReasonNotAllowedByListeners)
					continue
				}
				hosts, ok := intersect(hostOf(gl.l.Hostname), r.Spec.Hostnames)
				if !ok {
					if reason != string(gwv1.RouteReasonNotAllowedByListeners) {
						reason = string(gwv1.RouteReasonNoMatchingListenerHostname)
					}
					continue
				}
				attached++
				gl.st.AttachedRoutes++
				for _, rl := range rules {
					c := *rl
					c.Hostnames = hosts
					gl.out.Rules = append(gl.out.Rules, &c)
				}
			}
			ok := attached > 0
			if ok {
				reason = string(gwv1.RouteReasonAccepted)
			}
			parents = append(parents, gwv1.RouteParentStatus{
				ParentRef: pr, ControllerName: ControllerName,
				Conditions: []metav1.Condition{
					cond(string(gwv1.RouteConditionAccepted), reason, "", ok, r.Generation, t),
					cond(string(gwv1.RouteConditionResolvedRefs), resolvedReason, resolvedMsg, resolvedOK, r.Generation, t),
				},
			})
		}
		if len(parents) > 0 {
			cfg.Routes[key(r.Namespace, r.Name)] = parents
		}
	}
	for _, p := range cfg.Ports {
		sort.SliceStable(p.Listeners, func(i, j int) bool { return hostRank(p.Listeners[i].Hostname) > hostRank(p.Listeners[j].Hostname) })
		for _, l := range p.Listeners {
			sortRules(l.Rules)
		}
	}
	// Gateway conditions.
	for k, st := range gwStatus {
		gw := gws[k]
		addr := w.Addresses[k]
		if addr != "" {
			st.Addresses = []gwv1.GatewayStatusAddress{{Type: ptr(gwv1.IPAddressType), Value: addr}}
		}
		valid, accepted := true, 0
		for _, ls := range st.Listeners {
			for _, c := range ls.Conditions {
				if c.Type == string(gwv1.ListenerConditionProgrammed) && c.Status != metav1.ConditionTrue {
					valid = false
				}
				if c.Type == string(gwv1.ListenerConditionAccepted) && c.Status == metav1.ConditionTrue {
					accepted++
				}
			}
		}
		areason := string(gwv1.GatewayReasonAccepted)
		if !valid {
			areason = string(gwv1.GatewayReasonListenersNotValid)
		}
		gwAccepted := accepted > 0 || len(st.Listeners) == 0
		preason, pmsg := string(gwv1.GatewayReasonProgrammed), "served by svcnet"
		if addr == "" {
			preason, pmsg = string(gwv1.GatewayReasonAddressNotAssigned), "waiting for an address from the load-balancer pool"
		}
		if len(gw.Spec.Addresses) > 0 {
			areason = string(gwv1.GatewayReasonUnsupportedAddress)
			preason, pmsg = string(gwv1.GatewayReasonAddressNotAssigned), "requested addresses are not supported"
			addr = ""
			st.Addresses = nil
		}
		st.Conditions = []metav1.Condition{
			cond(string(gwv1.GatewayConditionAccepted), areason, "", gwAccepted && areason != string(gwv1.GatewayReasonUnsupportedAddress), gw.Generation, t),
			cond(string(gwv1.GatewayConditionProgrammed), preason, pmsg, addr != "", gw.Generation, t),
		}
		cfg.Gateways[k] = *st
	}
	return cfg
}

func ptr[T any](v T) *T { return &v }

func isTLS(p gwv1.ProtocolType) bool { return p == gwv1.HTTPSProtocolType || p == gwv1.TLSProtocolType }

func hostOf(h *gwv1.Hostname) string {
	if h == nil {
		return ""
	}
	return strings.ToLower(string(*h))
}

// hostRank orders hostnames most specific first: exact, then wildcards
// (longer first), then none.
func hostRank(h string) int {
	switch {
	case h == "":
		return 0
	case strings.HasPrefix(h, "*."):
		return 1000 + len(h)
	}
	return 100000 + len(h)
}

// hostMatches reports whether a host matches a listener or route
// hostname: exact, or a "*." wildcard covering one or more labels.
func hostMatches(pattern, host string) bool {
	switch {
	case pattern == "":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(host, pattern[1:]) && len(host) > len(pattern)-1
	}
	return pattern == host
}

// intersect is the route's hostnames on a listener; ok false when none of
// them can match the listener's.
func intersect(listener string, route []gwv1.Hostname) ([]string, bool) {
	if len(route) == 0 {
		if listener == "" {
			return nil, true
		}
		return []string{listener}, true
	}
	var out []string
	for _, rh := range route {
		h := strings.ToLower(string(rh))
		switch {
		case listener == "" || h == listener:
			out = append(out, h)
		case hostMatches(listener, h) && !strings.HasPrefix(h, "*."):
			out = append(out, h)
		case strings.HasPrefix(h, "*.") && hostMatches(h, strings.TrimPrefix(listener, "*.")) || strings.HasPrefix(h, "*.") && hostMatches(h, listener):
			out = append(out, listener) // the route's wildcard covers the listener's name
		case strings.HasPrefix(h, "*.") && strings.HasPrefix(listener, "*.") && strings.HasSuffix(h, listener[1:]):
			out = append(out, h) // the route's wildcard is narrower
		}
	}
	return out, len(out) > 0
}

// allowed applies a listener's allowedRoutes.namespaces to a route's namespace.
func allowed(w World, gw *gwv1.Gateway, l gwv1.Listener, ns string) bool {
	from := gwv1.NamespacesFromSame
	var sel *metav1.LabelSelector
	if l.AllowedRoutes != nil && l.AllowedRoutes.Namespaces != nil {
		if l.AllowedRoutes.Namespaces.From != nil {
			from = *l.AllowedRoutes.Namespaces.From
		}
		sel = l.AllowedRoutes.Namespaces.Selector
	}
	switch from {
	case gwv1.NamespacesFromAll:
		return true
	case gwv1.NamespacesFromSelector:
		if sel == nil {
			return false
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		return err == nil && s.Matches(w.Namespaces[ns])
	}
	return ns == gw.Namespace
}

// granted reports whether a ReferenceGrant in toNS lets objects of
// fromGroup/fromKind in fromNS refer to toKind toName (core group).
func granted(grants []*gwv1.ReferenceGrant, fromGroup, fromKind, fromNS, toGroup, toKind, toNS, toName string) bool {
	for _, g := range grants {
		if g.Namespace != toNS {
			continue
		}
		from := false
		for _, f := range g.Spec.From {
			from = from || string(f.Group) == fromGroup && string(f.Kind) == fromKind && string(f.Namespace) == fromNS
		}
		if !from {
			continue
		}
		for _, to := range g.Spec.To {
			if string(to.Group) == toGroup && string(to.Kind) == toKind && (to.Name == nil || string(*to.Name) == toName) {
				return true
			}
		}
	}
	return false
}

// compileRules compiles a route's rules (one Rule per match) and reports
// whether every backend reference resolved.
func compileRules(w World, r *gwv1.HTTPRoute) (out []*Rule, ok bool, reason, msg string) {
	ok, reason, msg = true, string(gwv1.RouteReasonResolvedRefs), "references resolved"
	for _, rule := range r.Spec.Rules {
		var backends []Backend
		valid := 0
		for _, br := range rule.BackendRefs {
			b := Backend{Weight: 1}
			if br.Weight != nil {
				b.Weight = *br.Weight
			}
			ns := r.Namespace
			if br.Namespace != nil {
				ns = string(*br.Namespace)
			}
			bad := ""
			switch {
			case br.Group != nil && *br.Group != "" || br.Kind != nil && *br.Kind != "Service":
				bad, reason = "backend kind is not Service", string(gwv1.RouteReasonInvalidKind)
			case ns != r.Namespace && !granted(w.Grants, group, kindHTTPRoute, r.Namespace, "", "Service", ns, string(br.Name)):
				bad, reason = fmt.Sprintf("no ReferenceGrant allows Service %s/%s", ns, br.Name), string(gwv1.RouteReasonRefNotPermitted)
			case w.Services[key(ns, string(br.Name))] == nil:
				bad, reason = fmt.Sprintf("Service %s/%s not found", ns, br.Name), string(gwv1.RouteReasonBackendNotFound)
			case br.Port == nil:
				bad, reason = "a Service backend needs a port", string(gwv1.RouteReasonUnsupportedValue)
			}
			if bad != "" {
				ok, msg = false, bad
			} else {
				b.Namespace, b.Service, b.Port = ns, string(br.Name), int32(*br.Port)
				valid++
			}
			backends = append(backends, b)
		}
		answers := false
		for _, f := range rule.Filters {
			answers = answers || f.Type == gwv1.HTTPRouteFilterRequestRedirect
		}
		matches := rule.Matches
		if len(matches) == 0 {
			matches = []gwv1.HTTPRouteMatch{{}}
		}
		for _, m := range matches {
			cm, err := compileMatch(m)
			if err != nil {
				ok, reason, msg = false, string(gwv1.RouteReasonUnsupportedValue), err.Error()
				continue
			}
			out = append(out, &Rule{Route: key(r.Namespace, r.Name), Match: cm, Filters: rule.Filters, Backends: backends,
				Invalid: valid == 0 && !answers})
			out[len(out)-1].created = r.CreationTimestamp.Time
		}
	}
	if ok {
		reason = string(gwv1.RouteReasonResolvedRefs)
	}
	return out, ok, reason, msg
}

func compileMatch(m gwv1.HTTPRouteMatch) (Match, error) {
	out := Match{PathType: gwv1.PathMatchPathPrefix, Path: "/"}
	if m.Path != nil {
		if m.Path.Type != nil {
			out.PathType = *m.Path.Type
		}
		if m.Path.Value != nil {
			out.Path = *m.Path.Value
		}
		if out.PathType == gwv1.PathMatchRegularExpression {
			re, err := regexp.Compile("^(?:" + out.Path + ")$")
			if err != nil {
				return out, fmt.Errorf("path regular expression: %w", err)
			}
			out.pathRE = re
		}
	}
	if m.Method != nil {
		out.Method = string(*m.Method)
	}
	for _, h := range m.Headers {
		vm := valueMatch{name: http.CanonicalHeaderKey(string(h.Name)), value: h.Value}
		if h.Type != nil && *h.Type == gwv1.HeaderMatchRegularExpression {
			re, err := regexp.Compile("^(?:" + h.Value + ")$")
			if err != nil {
				return out, fmt.Errorf("header regular expression: %w", err)
			}
			vm.re = re
		}
		out.Headers = append(out.Headers, vm)
	}
	for _, q := range m.QueryParams {
		vm := valueMatch{name: string(q.Name), value: q.Value}
		if q.Type != nil && *q.Type == gwv1.QueryParamMatchRegularExpression {
			re, err := regexp.Compile("^(?:" + q.Value + ")$")
			if err != nil {
				return out, fmt.Errorf("query parameter regular expression: %w", err)
			}
			vm.re = re
		}
		out.Query = append(out.Query, vm)
	}
	return out, nil
}

// sortRules orders rules by the Gateway API's precedence: the most
// specific hostname, Exact path (then a regular expression), the longest
// prefix, a method, more header
// matches, more query matches; then the oldest route, then by name, then
// rule order (a stable sort keeps it).
func sortRules(rs []*Rule) {
	sort.SliceStable(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		if ha, hb := bestHostRank(a.Hostnames), bestHostRank(b.Hostnames); ha != hb {
			return ha > hb
		}
		if pa, pb := pathRank(a.Match.PathType), pathRank(b.Match.PathType); pa != pb {
			return pa > pb
		}
		if a.Match.PathType == gwv1.PathMatchPathPrefix && b.Match.PathType == gwv1.PathMatchPathPrefix && len(a.Match.Path) != len(b.Match.Path) {
			return len(a.Match.Path) > len(b.Match.Path)
		}
		if (a.Match.Method != "") != (b.Match.Method != "") {
			return a.Match.Method != ""
		}
		if len(a.Match.Headers) != len(b.Match.Headers) {
			return len(a.Match.Headers) > len(b.Match.Headers)
		}
		if len(a.Match.Query) != len(b.Match.Query) {
			return len(a.Match.Query) > len(b.Match.Query)
		}
		if !a.created.Equal(b.created) {
			return a.created.Before(b.created)
		}
		return a.Route < b.Route
	})
}

// pathRank: Exact, then RegularExpression (implementation-specific; as
// Envoy Gateway orders it), then PathPrefix.
func pathRank(t gwv1.PathMatchType) int {
	switch t {
	case gwv1.PathMatchExact:
		return 3
	case gwv1.PathMatchRegularExpression:
		return 2
	}
	return 1
}

func bestHostRank(hs []string) int {
	best := 0
	for _, h := range hs {
		best = max(best, hostRank(h))
	}
	return best
}

func sortedGateways(gws []*gwv1.Gateway) []*gwv1.Gateway {
	out := append([]*gwv1.Gateway(nil), gws...)
	sort.Slice(out, func(i, j int) bool { return key(out[i].Namespace, out[i].Name) < key(out[j].Namespace, out[j].Name) })
	return out
}

func sortedRoutes(rs []*gwv1.HTTPRoute) []*gwv1.HTTPRoute {
	out := append([]*gwv1.HTTPRoute(nil), rs...)
	sort.Slice(out, func(i, j int) bool { return key(out[i].Namespace, out[i].Name) < key(out[j].Namespace, out[j].Name) })
	return out
}

// supportedFeatures are the Gateway API features svcnet implements, as
// the GatewayClass reports them.
func supportedFeatures() []gwv1.SupportedFeature {
	var out []gwv1.SupportedFeature
	for _, f := range []string{"Gateway", "HTTPRoute", "ReferenceGrant",
		"HTTPRouteHostRewrite", "HTTPRoutePathRewrite", "HTTPRoutePathRedirect", "HTTPRoutePortRedirect", "HTTPRouteSchemeRedirect",
		"HTTPRouteMethodMatching", "HTTPRouteQueryParamMatching", "HTTPRouteResponseHeaderModification"} {
		out = append(out, gwv1.SupportedFeature{Name: gwv1.FeatureName(f)})
	}
	return out
}

// validKeyPair reports whether a TLS Secret holds a certificate and key
// that go together.
func validKeyPair(sec *corev1.Secret) bool {
	_, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	return err == nil
}
