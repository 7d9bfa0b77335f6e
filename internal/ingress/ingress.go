// Package ingress is svcnet's built-in HTTP ingress: it serves the
// Ingresses of class svcnet (the cluster's default IngressClass) on one
// address, routing each request by host (exact, then a "*." wildcard of
// one label, then rules without a host) and path (Exact, then the longest
// Prefix by path elements; ImplementationSpecific is Prefix) to a ready
// endpoint of the backend Service's port, by number or name; what matches
// nothing goes to a default backend, else 404. On its TLS address it
// terminates HTTPS with the certificate of the `kubernetes.io/tls` Secret
// an Ingress names for the host asked for (SNI), a self-signed default
// otherwise. It writes the Ingresses' status.loadBalancer with its address.
package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	networkinglisters "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/svcnet/svcnet/internal/kube"
)

// Class and Controller are the IngressClass svcnet serves (the registry
// makes it at bootstrap, as the cluster's default).
const (
	Class      = "svcnet"
	Controller = "svcnet.io/ingress-controller"
)

// Server serves Ingresses on one address, and over TLS on another.
type Server struct {
	addr, tlsAddr string
	client        kubernetes.Interface
	log           *slog.Logger

	ingresses networkinglisters.IngressLister
	services  corelisters.ServiceLister
	secrets   corelisters.SecretLister
	slices    cache.SharedIndexInformer
	certs     *certCache

	routes atomic.Pointer[table]
	bound  chan string
	// proxy carries requests to endpoints over kept-alive connections
	// (net/http's default keeps two per endpoint: a few clients would
	// open a connection per request).
	proxy *httputil.ReverseProxy

	backendsOnce  sync.Once
	startBackends func() bool
}

type targetKey struct{}

// New makes the server; Run binds addr (and tlsAddr, when not empty) and
// serves.
func New(addr, tlsAddr string, client kubernetes.Interface, log *slog.Logger) *Server {
	s := &Server{addr: addr, tlsAddr: tlsAddr, client: client, log: log.With("component", "ingress"), bound: make(chan string, 2), certs: newCertCache()}
	s.routes.Store(&table{})
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 256
	s.proxy = &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(pr.In.Context().Value(targetKey{}).(*url.URL))
			pr.Out.Host = pr.In.Host // the backend sees the host asked for
			pr.SetXForwarded()
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Debug("backend", "endpoint", r.URL.Host, "err", err)
			http.Error(w, "502 Bad Gateway", http.StatusBadGateway)
		},
	}
	return s
}

// Bound gives the listening address once Run has bound it, then the TLS
// one when there is one.
func (s *Server) Bound() <-chan string { return s.bound }

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("ingress listen %s: %w", s.addr, err)
	}
	var tlsLn net.Listener
	if s.tlsAddr != "" {
		if tlsLn, err = net.Listen("tcp", s.tlsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("ingress TLS listen %s: %w", s.tlsAddr, err)
		}
	}
	s.bound <- ln.Addr().String()
	if tlsLn != nil {
		s.bound <- tlsLn.Addr().String()
	}
	factory := informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithTransform(kube.StripManagedFields))
	ingInf := factory.Networking().V1().Ingresses()
	// Services and EndpointSlices are followed only once there is an
	// Ingress to serve: a cluster without one pays nothing for them.
	backends := informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithTransform(kube.StripManagedFields))
	svcInf := backends.Core().V1().Services()
	sliceInf := backends.Discovery().V1().EndpointSlices()
	secretInf := backends.Core().V1().Secrets()
	kube.IndexSlicesByService(sliceInf.Informer())
	s.ingresses, s.services, s.slices, s.secrets = ingInf.Lister(), svcInf.Lister(), sliceInf.Informer(), secretInf.Lister()
	s.startBackends = func() bool {
		s.backendsOnce.Do(func() { backends.Start(ctx.Done()) })
		return cache.WaitForCacheSync(ctx.Done(), svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced, secretInf.Informer().HasSynced)
	}
	defer backends.Shutdown()
	// Every change rebuilds the (small) table once; status follows.
	q := workqueue.NewTypedWithConfig[string](workqueue.TypedQueueConfig[string]{Name: "ingress"})
	defer q.ShutDown()
	poke := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { q.Add("rebuild") }, UpdateFunc: func(any, any) { q.Add("rebuild") }, DeleteFunc: func(any) { q.Add("rebuild") },
	}
	_, _ = ingInf.Informer().AddEventHandler(poke)
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second}
	tlsSrv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second,
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.certificate}}
	go func() {
		<-ctx.Done()
		q.ShutDown()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		_ = tlsSrv.Shutdown(sctx)
	}()
	if tlsLn != nil {
		go func() {
			if err := tlsSrv.ServeTLS(tlsLn, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Warn("ingress TLS", "err", err)
			}
		}()
	}
	go func() {
		if !cache.WaitForCacheSync(ctx.Done(), ingInf.Informer().HasSynced) {
			return
		}
		for {
			key, quit := q.Get()
			if quit {
				return
			}
			s.rebuild(ctx, ln.Addr())
			q.Done(key)
		}
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ours: an Ingress of the svcnet class (or the old annotation naming it).
func ours(ing *networkingv1.Ingress) bool {
	if ing.Spec.IngressClassName != nil {
		return *ing.Spec.IngressClassName == Class
	}
	return ing.Annotations["kubernetes.io/ingress.class"] == Class
}

// rebuild makes the routing table from every Ingress of the class and
// writes their status.
func (s *Server) rebuild(ctx context.Context, addr net.Addr) {
	all, _ := s.ingresses.List(labels.Everything())
	var mine []*networkingv1.Ingress
	for _, ing := range all {
		if ours(ing) && ing.DeletionTimestamp == nil {
			mine = append(mine, ing)
		}
	}
	if len(mine) > 0 && !s.startBackends() {
		return // stopping
	}
	s.routes.Store(build(mine))
	s.certs.setHosts(tlsHosts(mine))
	ip := "127.0.0.1"
	if ta, ok := addr.(*net.TCPAddr); ok && !ta.IP.IsUnspecified() {
		ip = ta.IP.String()
	}
	want := networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{IP: ip}}}
	for _, ing := range mine {
		if apiequality.Semantic.DeepEqual(ing.Status.LoadBalancer, want) {
			continue
		}
		next := ing.DeepCopy()
		next.Status.LoadBalancer = want
		if _, err := s.client.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
			s.log.Debug("ingress status", "ingress", ing.Namespace+"/"+ing.Name, "err", err)
		}
	}
}

// backend is a Service port an Ingress routes to.
type backend struct {
	namespace, service string
	port               networkingv1.ServiceBackendPort
}

// rule is one host's paths.
type route struct {
	path    string
	exact   bool
	backend backend
}

// table is every route, by host ("" for rules without one).
type table struct {
	hosts    map[string][]route
	wildcard map[string][]route // by the suffix after "*."
	any      []route
	fallback *backend
}

func build(ings []*networkingv1.Ingress) *table {
	// Oldest first: on a tie the older Ingress wins, as controllers do.
	sort.SliceStable(ings, func(i, j int) bool { return ings[i].CreationTimestamp.Before(&ings[j].CreationTimestamp) })
	t := &table{hosts: map[string][]route{}, wildcard: map[string][]route{}}
	for _, ing := range ings {
		if b := ing.Spec.DefaultBackend; b != nil && b.Service != nil && t.fallback == nil {
			t.fallback = &backend{ing.Namespace, b.Service.Name, b.Service.Port}
		}
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			var rs []route
			for _, p := range r.HTTP.Paths {
				if p.Backend.Service == nil {
					continue
				}
				rs = append(rs, route{path: p.Path, exact: p.PathType != nil && *p.PathType == networkingv1.PathTypeExact,
					backend: backend{ing.Namespace, p.Backend.Service.Name, p.Backend.Service.Port}})
			}
			switch {
			case r.Host == "":
				t.any = append(t.any, rs...)
			case strings.HasPrefix(r.Host, "*."):
				t.wildcard[r.Host[2:]] = append(t.wildcard[r.Host[2:]], rs...)
			default:
				t.hosts[strings.ToLower(r.Host)] = append(t.hosts[strings.ToLower(r.Host)], rs...)
			}
		}
	}
	return t
}

// match finds the route for a request's host and path: Exact over Prefix,
// the longest prefix (element-wise) among prefixes; a host's own rules
// before wildcard ones before those for any host.
func (t *table) match(host, path string) (backend, bool) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(host)
	candidates := [][]route{t.hosts[host]}
	if i := strings.IndexByte(host, '.'); i > 0 {
		candidates = append(candidates, t.wildcard[host[i+1:]])
	}
	candidates = append(candidates, t.any)
	for _, rs := range candidates {
		if b, ok := best(rs, path); ok {
			return b, true
		}
	}
	if t.fallback != nil {
		return *t.fallback, true
	}
	return backend{}, false
}

func best(rs []route, path string) (backend, bool) {
	found, bestLen := -1, -1
	for i, r := range rs {
		if r.exact {
			if r.path == path {
				return r.backend, true
			}
			continue
		}
		if prefixMatch(r.path, path) && len(r.path) > bestLen {
			found, bestLen = i, len(r.path)
		}
	}
	if found < 0 {
		return backend{}, false
	}
	return rs[found].backend, true
}

// prefixMatch is Kubernetes' Prefix: element-wise on "/"-separated path
// elements ("/foo" matches "/foo", "/foo/" and "/foo/bar", not "/foobar").
func prefixMatch(prefix, path string) bool {
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return true
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// endpoint picks a ready endpoint of b's Service port.
func (s *Server) endpoint(b backend) (netip.AddrPort, error) {
	svc, err := s.services.Services(b.namespace).Get(b.service)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("service %s/%s: %w", b.namespace, b.service, err)
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if b.port.Number != 0 && p.Port == b.port.Number || b.port.Name != "" && p.Name == b.port.Name {
			sp = p
		}
	}
	if sp == nil {
		return netip.AddrPort{}, fmt.Errorf("service %s/%s has no port %v", b.namespace, b.service, b.port)
	}
	ready := kube.ReadyEndpoints(s.slices, svc, sp)
	if len(ready) == 0 {
		return netip.AddrPort{}, fmt.Errorf("service %s/%s has no ready endpoint", b.namespace, b.service)
	}
	return ready[rand.IntN(len(ready))], nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, ok := s.routes.Load().match(r.Host, r.URL.Path)
	if !ok {
		http.Error(w, "default backend - 404", http.StatusNotFound)
		return
	}
	ep, err := s.endpoint(b)
	if err != nil {
		s.log.Debug("no backend", "host", r.Host, "path", r.URL.Path, "err", err)
		http.Error(w, "503 Service Temporarily Unavailable", http.StatusServiceUnavailable)
		return
	}
	target := &url.URL{Scheme: "http", Host: ep.String()}
	s.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, target)))
}
