// Package gateway is svcnet's built-in Gateway API implementation
// (gateway.networking.k8s.io, the standard channel's CRDs applied by the
// user): GatewayClasses naming the controller svcnet.io/gateway-controller
// are accepted; each of their Gateways gets a LoadBalancer Service (its
// address from the load-balancer pool, carried by the proxy) whose
// endpoints are this server's sockets, one per Gateway port, HTTP or HTTPS
// (terminated with the listeners' kubernetes.io/tls Secrets, by SNI); and
// HTTPRoutes attached to them route requests by hostname, path, method,
// headers and query, through header modifiers, redirects and URL
// rewrites, to weighted Service backends. Gateways, listeners and routes
// get the status conditions the Gateway API specifies (Accepted,
// Programmed, ResolvedRefs, Conflicted, attachedRoutes).
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
	gwinformers "sigs.k8s.io/gateway-api/pkg/client/informers/externalversions"

	"github.com/svcnet/svcnet/internal/kube"
)

// Labels on the Services and EndpointSlices the controller makes.
const (
	gatewayLabel = "gateway.networking.k8s.io/gateway-name"
	managedBy    = "svcnet-gateway"
)

// Server runs the controller and the data plane.
type Server struct {
	client kubernetes.Interface
	gw     gwclient.Interface
	host   string // the address the sockets bind
	log    *slog.Logger

	config atomic.Pointer[Config]
	proxy  *httputil.ReverseProxy

	services cache.SharedIndexInformer
	slices   cache.SharedIndexInformer
	secrets  cache.SharedIndexInformer

	mu      sync.Mutex
	sockets map[PortKey]*socket
}

type socket struct {
	ln  net.Listener
	srv *http.Server
}

// New makes the server; its sockets bind host (127.0.0.1).
func New(client kubernetes.Interface, gw gwclient.Interface, host string, log *slog.Logger) *Server {
	s := &Server{client: client, gw: gw, host: host, log: log.With("component", "gateway"), sockets: map[PortKey]*socket{}}
	s.config.Store(&Config{Ports: map[PortKey]*Port{}})
	s.proxy = newProxy(s)
	return s
}

// Run waits for the Gateway API's CRDs to be served, then controls and
// serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	for !s.crdsServed() {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
	s.log.Info("Gateway API CRDs found: serving Gateways of controller " + ControllerName)
	gf := gwinformers.NewSharedInformerFactory(s.gw, 0)
	classes, gateways, routes, grants := gf.Gateway().V1().GatewayClasses(), gf.Gateway().V1().Gateways(), gf.Gateway().V1().HTTPRoutes(), gf.Gateway().V1().ReferenceGrants()
	kf := informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithTransform(kube.StripManagedFields))
	svcs, sls, secs, nss := kf.Core().V1().Services(), kf.Discovery().V1().EndpointSlices(), kf.Core().V1().Secrets(), kf.Core().V1().Namespaces()
	s.services, s.slices, s.secrets = svcs.Informer(), sls.Informer(), secs.Informer()
	kube.IndexSlicesByService(s.slices)
	q := workqueue.NewTypedDelayingQueueWithConfig[string](workqueue.TypedDelayingQueueConfig[string]{Name: "gateway"})
	defer q.ShutDown()
	poke := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { q.Add("sync") }, UpdateFunc: func(any, any) { q.Add("sync") }, DeleteFunc: func(any) { q.Add("sync") },
	}
	for _, inf := range []cache.SharedIndexInformer{classes.Informer(), gateways.Informer(), routes.Informer(), grants.Informer(), svcs.Informer(), secs.Informer(), nss.Informer()} {
		_, _ = inf.AddEventHandler(poke)
	}
	gf.Start(ctx.Done())
	kf.Start(ctx.Done())
	defer gf.Shutdown()
	defer kf.Shutdown()
	defer s.closeAll()
	if !cache.WaitForCacheSync(ctx.Done(), classes.Informer().HasSynced, gateways.Informer().HasSynced, routes.Informer().HasSynced,
		grants.Informer().HasSynced, svcs.Informer().HasSynced, sls.Informer().HasSynced, secs.Informer().HasSynced, nss.Informer().HasSynced) {
		return nil
	}
	go func() { <-ctx.Done(); q.ShutDown() }()
	q.Add("sync")
	for {
		item, quit := q.Get()
		if quit {
			return nil
		}
		w := World{Services: map[string]*corev1.Service{}, Secrets: map[string]*corev1.Secret{}, Namespaces: map[string]labels.Set{}, Addresses: map[string]string{}}
		w.Classes, _ = classes.Lister().List(labels.Everything())
		w.Gateways, _ = gateways.Lister().List(labels.Everything())
		w.Routes, _ = routes.Lister().List(labels.Everything())
		w.Grants, _ = grants.Lister().List(labels.Everything())
		all, _ := svcs.Lister().List(labels.Everything())
		for _, svc := range all {
			w.Services[key(svc.Namespace, svc.Name)] = svc
			if svc.Labels[discoveryv1.LabelManagedBy] == managedBy && len(svc.Status.LoadBalancer.Ingress) > 0 {
				w.Addresses[key(svc.Namespace, svc.Labels[gatewayLabel])] = svc.Status.LoadBalancer.Ingress[0].IP
			}
		}
		secrets, _ := secs.Lister().List(labels.Everything())
		for _, sec := range secrets {
			w.Secrets[key(sec.Namespace, sec.Name)] = sec
		}
		namespaces, _ := nss.Lister().List(labels.Everything())
		for _, ns := range namespaces {
			w.Namespaces[ns.Name] = ns.Labels
		}
		cfg := Compile(w, time.Now())
		s.config.Store(cfg)
		err := s.apply(ctx, w, cfg)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("gateway sync", "err", err)
			q.Done(item)
			q.AddAfter("sync", time.Second)
			continue
		}
		q.Done(item)
	}
}

// crdsServed reports whether the API serves the Gateway API's v1 kinds.
func (s *Server) crdsServed() bool {
	list, err := s.client.Discovery().ServerResourcesForGroupVersion(gwv1.GroupVersion.String())
	if err != nil {
		return false
	}
	want := map[string]bool{"gatewayclasses": false, "gateways": false, "httproutes": false, "referencegrants": false}
	for _, r := range list.APIResources {
		if _, ok := want[r.Name]; ok {
			want[r.Name] = true
		}
	}
	for _, ok := range want {
		if !ok {
			return false
		}
	}
	return true
}

// apply makes the sockets, Services and EndpointSlices the config needs,
// and writes the statuses.
func (s *Server) apply(ctx context.Context, w World, cfg *Config) error {
	ports, err := s.bind(cfg)
	if err != nil {
		return err
	}
	var errs []error
	for gw, ps := range ports {
		errs = append(errs, s.ensureService(ctx, w, gw, ps))
	}
	// Services of Gateways that are gone.
	for _, svc := range w.Services {
		gw := key(svc.Namespace, svc.Labels[gatewayLabel])
		if svc.Labels[discoveryv1.LabelManagedBy] == managedBy {
			if _, ok := ports[gw]; !ok {
				if err := s.client.CoreV1().Services(svc.Namespace).Delete(ctx, svc.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
			}
		}
	}
	errs = append(errs, s.writeStatus(ctx, w, cfg))
	return errors.Join(errs...)
}

// bind opens a socket for every Gateway port and closes the others. It
// returns each Gateway's ports ▶ local socket ports.
func (s *Server) bind(cfg *Config) (map[string]map[int32]int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]map[int32]int{}
	var errs []error
	for pk, p := range cfg.Ports {
		sock := s.sockets[pk]
		if sock == nil {
			ln, err := net.Listen("tcp", net.JoinHostPort(s.host, "0"))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			h := &handler{s: s, port: pk, tls: p.TLS}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 90 * time.Second}
			sock = &socket{ln: ln, srv: srv}
			if p.TLS {
				srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
					return s.certificate(pk, hello.ServerName)
				}}
				go func() { _ = srv.ServeTLS(ln, "", "") }()
			} else {
				go func() { _ = srv.Serve(ln) }()
			}
			s.sockets[pk] = sock
		}
		gw := key(pk.Namespace, pk.Gateway)
		if out[gw] == nil {
			out[gw] = map[int32]int{}
		}
		out[gw][pk.Port] = sock.ln.Addr().(*net.TCPAddr).Port
	}
	for pk, sock := range s.sockets {
		if _, ok := cfg.Ports[pk]; !ok {
			_ = sock.srv.Close()
			delete(s.sockets, pk)
		}
	}
	return out, errors.Join(errs...)
}

func (s *Server) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pk, sock := range s.sockets {
		_ = sock.srv.Close()
		delete(s.sockets, pk)
	}
}

// certificate picks the certificate of the most specific HTTPS listener on
// a port whose hostname matches the SNI name.
func (s *Server) certificate(pk PortKey, name string) (*tls.Certificate, error) {
	p := s.config.Load().Ports[pk]
	if p == nil {
		return nil, fmt.Errorf("no listener")
	}
	for _, l := range p.Listeners {
		if !hostMatches(l.Hostname, name) || len(l.Certs) == 0 {
			continue
		}
		obj, ok, _ := s.secrets.GetStore().GetByKey(l.Certs[0])
		if !ok {
			continue
		}
		sec := obj.(*corev1.Secret)
		c, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
		if err != nil {
			return nil, err
		}
		return &c, nil
	}
	return nil, fmt.Errorf("no certificate for %q", name)
}

func serviceName(gw string) string {
	name := "svcnet-gateway-" + gw
	if len(name) > 63 {
		h := fnv.New32a()
		_, _ = h.Write([]byte(gw))
		name = name[:54] + "-" + strconv.FormatUint(uint64(h.Sum32()), 16)
	}
	return name
}

// ensureService makes a Gateway's LoadBalancer Service (one port per
// Gateway port) and its EndpointSlice (this server's sockets).
func (s *Server) ensureService(ctx context.Context, w World, gwKey string, ports map[int32]int) error {
	var gw *gwv1.Gateway
	for _, g := range w.Gateways {
		if key(g.Namespace, g.Name) == gwKey {
			gw = g
		}
	}
	if gw == nil {
		return nil
	}
	name := serviceName(gw.Name)
	lbls := map[string]string{gatewayLabel: gw.Name, discoveryv1.LabelManagedBy: managedBy}
	owner := []metav1.OwnerReference{{APIVersion: gwv1.GroupVersion.String(), Kind: kindGateway, Name: gw.Name, UID: gw.UID}}
	nums := make([]int32, 0, len(ports))
	for p := range ports {
		nums = append(nums, p)
	}
	slices.Sort(nums)
	want := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: gw.Namespace, Labels: lbls, OwnerReferences: owner},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, AllocateLoadBalancerNodePorts: ptr(false)},
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Namespace: gw.Namespace, OwnerReferences: owner, Labels: map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: managedBy, gatewayLabel: gw.Name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{s.host}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(true), Terminating: ptr(false)}}},
	}
	for _, p := range nums {
		pn := "port-" + strconv.Itoa(int(p))
		want.Spec.Ports = append(want.Spec.Ports, corev1.ServicePort{Name: pn, Protocol: corev1.ProtocolTCP, Port: p, TargetPort: intstr.FromInt32(p)})
		slice.Ports = append(slice.Ports, discoveryv1.EndpointPort{Name: ptr(pn), Protocol: ptr(corev1.ProtocolTCP), Port: ptr(int32(ports[p]))})
	}
	cur := w.Services[key(gw.Namespace, name)]
	switch {
	case cur == nil:
		if _, err := s.client.CoreV1().Services(gw.Namespace).Create(ctx, want, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("gateway service %s/%s: %w", gw.Namespace, name, err)
		}
	case !apiequality.Semantic.DeepEqual(portsOf(cur), portsOf(want)) || cur.Spec.Type != corev1.ServiceTypeLoadBalancer:
		next := cur.DeepCopy()
		next.Spec.Type, next.Spec.Ports, next.Labels = corev1.ServiceTypeLoadBalancer, want.Spec.Ports, lbls
		if _, err := s.client.CoreV1().Services(gw.Namespace).Update(ctx, next, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	old, err := s.client.DiscoveryV1().EndpointSlices(gw.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = s.client.DiscoveryV1().EndpointSlices(gw.Namespace).Create(ctx, slice, metav1.CreateOptions{})
	case err == nil && !(apiequality.Semantic.DeepEqual(old.Ports, slice.Ports) && apiequality.Semantic.DeepEqual(old.Endpoints, slice.Endpoints)):
		next := old.DeepCopy()
		next.Ports, next.Endpoints = slice.Ports, slice.Endpoints
		_, err = s.client.DiscoveryV1().EndpointSlices(gw.Namespace).Update(ctx, next, metav1.UpdateOptions{})
	}
	return err
}

func portsOf(svc *corev1.Service) []corev1.ServicePort {
	out := make([]corev1.ServicePort, len(svc.Spec.Ports))
	for i, p := range svc.Spec.Ports {
		out[i] = corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.Port, TargetPort: p.TargetPort}
	}
	return out
}

// writeStatus writes the statuses that changed, keeping each condition's
// transition time while its status holds, and other controllers' entries
// in routes' status.parents.
func (s *Server) writeStatus(ctx context.Context, w World, cfg *Config) error {
	var errs []error
	for _, c := range w.Classes {
		want, ok := cfg.Classes[c.Name]
		if !ok {
			continue
		}
		want.Conditions = keepTimes(c.Status.Conditions, want.Conditions)
		if apiequality.Semantic.DeepEqual(c.Status, want) {
			continue
		}
		next := c.DeepCopy()
		next.Status = want
		if _, err := s.gw.GatewayV1().GatewayClasses().UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	for _, g := range w.Gateways {
		want, ok := cfg.Gateways[key(g.Namespace, g.Name)]
		if !ok {
			continue
		}
		want.Conditions = keepTimes(g.Status.Conditions, want.Conditions)
		for i := range want.Listeners {
			for _, old := range g.Status.Listeners {
				if old.Name == want.Listeners[i].Name {
					want.Listeners[i].Conditions = keepTimes(old.Conditions, want.Listeners[i].Conditions)
				}
			}
		}
		if apiequality.Semantic.DeepEqual(g.Status, want) {
			continue
		}
		next := g.DeepCopy()
		next.Status = want
		if _, err := s.gw.GatewayV1().Gateways(g.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	for _, r := range w.Routes {
		mine := cfg.Routes[key(r.Namespace, r.Name)]
		var parents []gwv1.RouteParentStatus
		for _, p := range r.Status.Parents {
			if p.ControllerName != ControllerName {
				parents = append(parents, p)
			}
		}
		for _, p := range mine {
			for _, old := range r.Status.Parents {
				if old.ControllerName == ControllerName && apiequality.Semantic.DeepEqual(old.ParentRef, p.ParentRef) {
					p.Conditions = keepTimes(old.Conditions, p.Conditions)
				}
			}
			parents = append(parents, p)
		}
		if apiequality.Semantic.DeepEqual(r.Status.Parents, parents) || len(r.Status.Parents) == 0 && len(parents) == 0 {
			continue
		}
		next := r.DeepCopy()
		next.Status.Parents = parents
		if _, err := s.gw.GatewayV1().HTTPRoutes(r.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// keepTimes keeps the old transition time of conditions whose status did
// not change.
func keepTimes(old, want []metav1.Condition) []metav1.Condition {
	for i := range want {
		for _, o := range old {
			if o.Type == want[i].Type && o.Status == want[i].Status {
				want[i].LastTransitionTime = o.LastTransitionTime
			}
		}
	}
	return want
}

// endpoint picks a ready endpoint of a backend Service port.
func (s *Server) endpoint(b Backend) (string, error) {
	obj, ok, _ := s.services.GetStore().GetByKey(key(b.Namespace, b.Service))
	if !ok {
		return "", fmt.Errorf("service %s/%s not found", b.Namespace, b.Service)
	}
	svc := obj.(*corev1.Service)
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		if svc.Spec.Ports[i].Port == b.Port {
			sp = &svc.Spec.Ports[i]
		}
	}
	if sp == nil {
		return "", fmt.Errorf("service %s/%s has no port %d", b.Namespace, b.Service, b.Port)
	}
	ready := kube.ReadyEndpoints(s.slices, svc, sp)
	if len(ready) == 0 {
		return "", fmt.Errorf("service %s/%s has no ready endpoint", b.Namespace, b.Service)
	}
	return ready[rand.IntN(len(ready))].String(), nil
}
