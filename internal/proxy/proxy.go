// Package proxy makes Services carry traffic, as kube-proxy does: for
// every port of every Service it listens on ClusterIP:port, on each
// externalIP and load-balancer address (status.loadBalancer.ingress) at
// the port, and, for NodePort and LoadBalancer Services, on this node's
// addresses at the nodePort (TCP and UDP), and forwards each connection,
// or each client's datagrams, to a ready endpoint from the Service's
// EndpointSlices: a random one, or the same one per client with
// sessionAffinity ClientIP; with externalTrafficPolicy Local, traffic from
// outside (nodePort, externalIPs, load balancer) goes only to this node's
// endpoints. A backend that refuses is retried on another. Changes apply
// as the watch delivers them, without touching established connections;
// those to removed endpoints drain. The addresses must be local: in
// process mode the service CIDR lies in 127.0.0.0/8, which Linux routes to
// the loopback device.
//
// Several nodes on one machine share its addresses: ClusterIPs,
// externalIPs and load-balancer addresses are one set per machine, so one
// proxy serves them (NodeOnly false) while each node's proxy serves its own
// nodePorts on its own address (NodeOnly true for the others).
package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/svcnet/svcnet/internal/kube"
)

// Config of the proxy.
type Config struct {
	// DialTimeout bounds a connection attempt to one backend (default 2s).
	DialTimeout time.Duration
	// UDPIdle ends a UDP flow after this long without traffic (default 30s).
	UDPIdle time.Duration
	// Metrics registers the proxy's metrics; nil keeps them unregistered.
	Metrics prometheus.Registerer
	// NodeName is this proxy's node: externalTrafficPolicy Local keeps to
	// its endpoints.
	NodeName string
	// NodeAddresses are where nodePorts listen (the node's InternalIP, as
	// kube-proxy's --nodeport-addresses); none serves no nodePorts.
	NodeAddresses []netip.Addr
	// NodeOnly serves only the nodePorts: another proxy on this machine
	// serves its shared addresses.
	NodeOnly bool
	// Zone is this node's topology.kubernetes.io/zone, for zone hints.
	Zone string
}

// Proxy forwards ClusterIP traffic.
type Proxy struct {
	cfg    Config
	client kubernetes.Interface
	log    *slog.Logger
	m      *metrics

	svcs   corelisters.ServiceLister
	slices cache.SharedIndexInformer // indexed by kube.IndexSlicesByService

	mu     sync.Mutex
	ports  map[string]*servicePort // by "ip|port|proto"
	health map[netip.AddrPort]*healthCheck
	seen   map[string]time.Time // newest trigger time applied, by service
	ready  chan struct{}
}

// New makes a proxy; Run starts it.
func New(cfg Config, client kubernetes.Interface, log *slog.Logger) *Proxy {
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.UDPIdle == 0 {
		cfg.UDPIdle = 30 * time.Second
	}
	return &Proxy{cfg: cfg, client: client, log: log.With("component", "proxy"), m: newMetrics(cfg.Metrics),
		ports: map[string]*servicePort{}, health: map[netip.AddrPort]*healthCheck{}, seen: map[string]time.Time{}, ready: make(chan struct{})}
}

// Ready is closed once every Service known at start is programmed.
func (p *Proxy) Ready() <-chan struct{} { return p.ready }

// Run programs Services as they change until ctx ends, then closes every
// listener (established connections end with the process).
func (p *Proxy) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(p.client, 0, informers.WithTransform(kube.StripManagedFields))
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	kube.IndexSlicesByService(sliceInf.Informer())
	p.svcs, p.slices = svcInf.Lister(), sliceInf.Informer()
	q := workqueue.NewTypedWithConfig[string](workqueue.TypedQueueConfig[string]{Name: "proxy"})
	defer q.ShutDown()
	h := func(key func(any) string) cache.ResourceEventHandlerFuncs {
		add := func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if k := key(obj); k != "" {
				q.Add(k)
			}
		}
		return cache.ResourceEventHandlerFuncs{AddFunc: add, UpdateFunc: func(_, o any) { add(o) }, DeleteFunc: add}
	}
	_, _ = svcInf.Informer().AddEventHandler(h(func(obj any) string {
		k, _ := cache.MetaNamespaceKeyFunc(obj)
		return k
	}))
	_, _ = sliceInf.Informer().AddEventHandler(h(func(obj any) string {
		if sl, ok := obj.(*discoveryv1.EndpointSlice); ok && sl.Labels[discoveryv1.LabelServiceName] != "" {
			return sl.Namespace + "/" + sl.Labels[discoveryv1.LabelServiceName]
		}
		return ""
	}))
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced) {
		return nil
	}
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	initial := q.Len()
	done := 0
	for {
		key, quit := q.Get()
		if quit {
			break
		}
		p.sync(key)
		q.Done(key)
		if done++; done == initial || initial == 0 {
			select {
			case <-p.ready:
			default:
				close(p.ready)
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, sp := range p.ports {
		sp.close()
		delete(p.ports, k)
	}
	for k, h := range p.health {
		h.close()
		delete(p.health, k)
	}
	return nil
}

// sync makes one Service's listeners and backends match its spec and slices.
func (p *Proxy) sync(key string) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	svc, err := p.svcs.Services(ns).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return
	}
	want := map[string]wanted{}
	var sls []*discoveryv1.EndpointSlice
	if err != nil {
		svc = nil
	}
	if svc != nil && svc.Spec.Type != corev1.ServiceTypeExternalName {
		slices, _ := kube.ServiceSlices(p.slices, ns, name, "")
		sls = slices
		for _, l := range p.listeners(svc) {
			for _, sp := range svc.Spec.Ports {
				proto := sp.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				if proto != corev1.ProtocolTCP && proto != corev1.ProtocolUDP {
					continue
				}
				port := int(sp.Port)
				if l.nodePort {
					if port = int(sp.NodePort); port == 0 {
						continue
					}
				}
				// A Local policy keeps to this node's endpoints: the external
				// one for traffic from outside, the internal one for ClusterIPs.
				node := ""
				if l.external && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal ||
					!l.external && svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal {
					node = p.cfg.NodeName
				}
				w := wanted{svc: key, kind: l.kind, ip: l.ip, port: port, proto: proto, backends: p.choose(endpoints(slices, l.ip, sp.Name, proto), node)}
				if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
					w.affinity = 3 * time.Hour
					if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
						w.affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
					}
				}
				want[w.id()] = w
			}
		}
		p.observe(key, slices)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.syncHealth(key, svc, sls)
	for id, sp := range p.ports {
		if sp.svc == key {
			if _, ok := want[id]; !ok {
				sp.close()
				delete(p.ports, id)
			}
		}
	}
	for id, w := range want {
		sp := p.ports[id]
		if sp == nil || sp.svc != key {
			if sp != nil {
				sp.close() // the address moved to another Service
			}
			var err error
			if sp, err = p.listen(w); err != nil {
				p.log.Warn("cannot listen for a Service port", "service", key, "addr", w.addr(), "proto", w.proto, "err", err)
				delete(p.ports, id)
				continue
			}
			p.ports[id] = sp
		}
		sp.update(w)
	}
	p.m.ports.Set(float64(len(p.ports)))
}

// port returns a live listener by "ip|port|proto" (for tests).
func (p *Proxy) port(id string) *servicePort {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ports[id]
}

// observe records trigger time ▶ now for a Service's newest slice change.
func (p *Proxy) observe(key string, sls []*discoveryv1.EndpointSlice) {
	var newest time.Time
	for _, sl := range sls {
		if t, err := time.Parse(time.RFC3339Nano, sl.Annotations[corev1.EndpointsLastChangeTriggerTime]); err == nil && t.After(newest) {
			newest = t
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !newest.IsZero() && newest.After(p.seen[key]) {
		p.seen[key] = newest
		p.m.programming.Observe(time.Since(newest).Seconds())
	}
}

// listener is an address a Service is served on: external ones (nodePort,
// externalIPs, load balancer) follow externalTrafficPolicy.
type listener struct {
	ip                 netip.Addr
	nodePort, external bool
	// kind names the way in for metrics: ClusterIP, ExternalIP,
	// LoadBalancer or NodePort.
	kind string
}

// listeners are the addresses this proxy serves svc on.
func (p *Proxy) listeners(svc *corev1.Service) []listener {
	var out []listener
	add := func(s string, external bool, kind string) {
		if ip, err := netip.ParseAddr(s); err == nil && !slices.ContainsFunc(out, func(l listener) bool { return l.ip == ip && !l.nodePort }) {
			out = append(out, listener{ip: ip, external: external, kind: kind})
		}
	}
	if !p.cfg.NodeOnly {
		for _, ip := range clusterIPs(svc) {
			add(ip, false, "ClusterIP")
		}
		for _, ip := range svc.Spec.ExternalIPs {
			add(ip, true, "ExternalIP")
		}
		if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
			for _, in := range svc.Status.LoadBalancer.Ingress {
				if in.IPMode == nil || *in.IPMode == corev1.LoadBalancerIPModeVIP {
					add(in.IP, true, "LoadBalancer")
				}
			}
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		fams := clusterIPs(svc)
		for _, a := range p.cfg.NodeAddresses {
			// A nodePort serves the families the Service has.
			if slices.ContainsFunc(fams, func(s string) bool { ip, err := netip.ParseAddr(s); return err == nil && ip.Is6() == a.Is6() }) {
				out = append(out, listener{ip: a, nodePort: true, external: true, kind: "NodePort"})
			}
		}
	}
	return out
}

func clusterIPs(svc *corev1.Service) []string {
	if len(svc.Spec.ClusterIPs) > 0 {
		return slices.DeleteFunc(slices.Clone(svc.Spec.ClusterIPs), func(s string) bool { return s == corev1.ClusterIPNone || s == "" })
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone || svc.Spec.ClusterIP == "" {
		return nil
	}
	return []string{svc.Spec.ClusterIP}
}

// endpoint is one address of a Service port, with what the proxy chooses
// by.
type endpoint struct {
	ap                        netip.AddrPort
	ready, servingTerminating bool
	node                      string
	hinted                    bool
	forNodes, forZones        []string
}

// endpoints are the addresses of the slices of ip's family that serve the
// named port, each once, sorted.
func endpoints(sls []*discoveryv1.EndpointSlice, ip netip.Addr, portName string, proto corev1.Protocol) []endpoint {
	family := discoveryv1.AddressTypeIPv4
	if ip.Is6() {
		family = discoveryv1.AddressTypeIPv6
	}
	seen := map[netip.AddrPort]bool{}
	var out []endpoint
	for _, sl := range sls {
		if sl.AddressType != family {
			continue
		}
		port := -1
		for _, ep := range sl.Ports {
			epProto := corev1.ProtocolTCP
			if ep.Protocol != nil {
				epProto = *ep.Protocol
			}
			name := ""
			if ep.Name != nil {
				name = *ep.Name
			}
			if name == portName && epProto == proto && ep.Port != nil {
				port = int(*ep.Port)
			}
		}
		if port < 0 {
			continue
		}
		for _, e := range sl.Endpoints {
			c := e.Conditions
			ep := endpoint{ready: c.Ready == nil || *c.Ready,
				servingTerminating: c.Serving != nil && *c.Serving && c.Terminating != nil && *c.Terminating}
			if e.NodeName != nil {
				ep.node = *e.NodeName
			}
			if h := e.Hints; h != nil {
				ep.hinted = len(h.ForNodes)+len(h.ForZones) > 0
				for _, n := range h.ForNodes {
					ep.forNodes = append(ep.forNodes, n.Name)
				}
				for _, z := range h.ForZones {
					ep.forZones = append(ep.forZones, z.Name)
				}
			}
			for _, a := range e.Addresses {
				if addr, err := netip.ParseAddr(a); err == nil {
					ap := netip.AddrPortFrom(addr, uint16(port))
					if !seen[ap] {
						seen[ap] = true
						ep.ap = ap
						out = append(out, ep)
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(x, y endpoint) int { return x.ap.Compare(y.ap) })
	return out
}

// choose picks the backends among eps as kube-proxy does: with node set
// (a Local traffic policy) only that node's; the ready ones, or when none
// is, the serving ones still terminating (a rolling update loses no
// connection); and, when every one of them carries topology hints, those
// for this proxy's node (trafficDistribution PreferSameNode) or else zone
// (PreferSameZone, PreferClose), all of them when none is.
func (p *Proxy) choose(eps []endpoint, node string) []netip.AddrPort {
	var ready, terminating []endpoint
	for _, e := range eps {
		if node != "" && e.node != node {
			continue
		}
		if e.ready {
			ready = append(ready, e)
		} else if e.servingTerminating {
			terminating = append(terminating, e)
		}
	}
	use := ready
	if len(use) == 0 {
		use = terminating
	}
	if node == "" && len(use) > 0 && !slices.ContainsFunc(use, func(e endpoint) bool { return !e.hinted }) {
		for _, prefer := range []func(endpoint) bool{
			func(e endpoint) bool { return p.cfg.NodeName != "" && slices.Contains(e.forNodes, p.cfg.NodeName) },
			func(e endpoint) bool { return p.cfg.Zone != "" && slices.Contains(e.forZones, p.cfg.Zone) },
		} {
			if near := slices.DeleteFunc(slices.Clone(use), func(e endpoint) bool { return !prefer(e) }); len(near) > 0 {
				use = near
				break
			}
		}
	}
	out := make([]netip.AddrPort, 0, len(use))
	for _, e := range use {
		out = append(out, e.ap)
	}
	return out
}

// wanted is one listener a Service asks for.
type wanted struct {
	svc      string
	kind     string
	ip       netip.Addr
	port     int
	proto    corev1.Protocol
	backends []netip.AddrPort
	affinity time.Duration // 0: none
}

func (w wanted) id() string {
	return w.ip.String() + "|" + strconv.Itoa(w.port) + "|" + string(w.proto)
}
func (w wanted) addr() string { return net.JoinHostPort(w.ip.String(), strconv.Itoa(w.port)) }

// servicePort is one live listener and the backends it forwards to.
type servicePort struct {
	p        *Proxy
	svc      string
	kind     string
	proto    corev1.Protocol
	backends atomic.Pointer[[]netip.AddrPort]
	affinity atomic.Int64 // nanoseconds; 0: none

	ln net.Listener
	pc *net.UDPConn

	mu      sync.Mutex
	clients map[netip.Addr]stick
	flows   map[netip.AddrPort]*udpFlow
	closed  bool
}

type stick struct {
	to      netip.AddrPort
	expires time.Time
}

func (p *Proxy) listen(w wanted) (*servicePort, error) {
	sp := &servicePort{p: p, svc: w.svc, kind: w.kind, proto: w.proto, clients: map[netip.Addr]stick{}, flows: map[netip.AddrPort]*udpFlow{}}
	var err error
	if w.proto == corev1.ProtocolUDP {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", w.addr()); err == nil {
			sp.pc = pc.(*net.UDPConn)
			go sp.serveUDP()
		}
	} else if sp.ln, err = net.Listen("tcp", w.addr()); err == nil {
		go sp.serveTCP()
	}
	if err != nil {
		return nil, err
	}
	p.log.Debug("listening", "service", w.svc, "addr", w.addr(), "proto", w.proto)
	return sp, nil
}

func (sp *servicePort) update(w wanted) {
	b := w.backends
	sp.backends.Store(&b)
	sp.affinity.Store(int64(w.affinity))
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for c, s := range sp.clients {
		if !slices.Contains(b, s.to) {
			delete(sp.clients, c) // its backend is gone: choose anew
		}
	}
}

func (sp *servicePort) close() {
	sp.mu.Lock()
	sp.closed = true
	flows := sp.flows
	sp.flows = map[netip.AddrPort]*udpFlow{}
	sp.mu.Unlock()
	if sp.ln != nil {
		_ = sp.ln.Close()
	}
	if sp.pc != nil {
		_ = sp.pc.Close()
	}
	for _, f := range flows {
		_ = f.up.Close()
	}
}

// pick chooses a backend for a client: its sticky one while affinity
// holds, else a random one not in tried.
func (sp *servicePort) pick(client netip.Addr, tried []netip.AddrPort) (netip.AddrPort, bool) {
	all := *sp.backends.Load()
	aff := time.Duration(sp.affinity.Load())
	now := time.Now()
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if aff > 0 {
		if s, ok := sp.clients[client]; ok && now.Before(s.expires) && !slices.Contains(tried, s.to) && slices.Contains(all, s.to) {
			sp.clients[client] = stick{s.to, now.Add(aff)}
			return s.to, true
		}
	}
	var left []netip.AddrPort
	for _, b := range all {
		if !slices.Contains(tried, b) {
			left = append(left, b)
		}
	}
	if len(left) == 0 {
		return netip.AddrPort{}, false
	}
	b := left[rand.IntN(len(left))]
	if aff > 0 {
		sp.clients[client] = stick{b, now.Add(aff)}
	}
	return b, true
}

func (sp *servicePort) serveTCP() {
	for {
		c, err := sp.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go sp.handleTCP(c)
	}
}

// handleTCP connects a client to a backend, trying others while backends
// refuse, and relays until both sides are done.
func (sp *servicePort) handleTCP(c net.Conn) {
	var client netip.Addr
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		client = ta.AddrPort().Addr().Unmap()
	}
	var tried []netip.AddrPort
	for attempt := 0; attempt < 3; attempt++ {
		b, ok := sp.pick(client, tried)
		if !ok {
			break
		}
		up, err := net.DialTimeout("tcp", b.String(), sp.p.cfg.DialTimeout)
		if err != nil {
			sp.p.m.errors.WithLabelValues(sp.svc, sp.kind).Inc()
			tried = append(tried, b)
			continue
		}
		sp.p.m.conns.WithLabelValues(sp.svc, sp.kind).Inc()
		in, out := relay(c, up)
		sp.p.m.bytes.WithLabelValues(sp.svc, sp.kind, "in").Add(float64(in))
		sp.p.m.bytes.WithLabelValues(sp.svc, sp.kind, "out").Add(float64(out))
		return
	}
	if len(tried) == 0 {
		sp.p.m.errors.WithLabelValues(sp.svc, sp.kind).Inc() // no backend at all
	}
	_ = c.Close()
}

// relay copies both ways, passing on each side's half-close, and returns
// the bytes sent to the backend and back.
func relay(client, backend net.Conn) (in, out int64) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn, n *int64) {
		defer wg.Done()
		*n, _ = io.Copy(dst, src) // TCP to TCP: splice(2), no copy through user space
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		} else {
			_ = dst.Close()
		}
	}
	go cp(backend, client, &in)
	go cp(client, backend, &out)
	wg.Wait()
	_ = client.Close()
	_ = backend.Close()
	return in, out
}

// udpFlow is one client's datagrams to one backend.
type udpFlow struct {
	up   *net.UDPConn
	last atomic.Int64
}

func (sp *servicePort) serveUDP() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := sp.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		f := sp.flow(from)
		if f == nil {
			sp.p.m.errors.WithLabelValues(sp.svc, sp.kind).Inc()
			continue
		}
		f.last.Store(time.Now().UnixNano())
		if k, err := f.up.Write(buf[:n]); err == nil {
			sp.p.m.bytes.WithLabelValues(sp.svc, sp.kind, "in").Add(float64(k))
		}
	}
}

// flow returns a client's flow, opening one to a backend for a new client.
func (sp *servicePort) flow(from netip.AddrPort) *udpFlow {
	sp.mu.Lock()
	f := sp.flows[from]
	closed := sp.closed
	sp.mu.Unlock()
	if f != nil || closed {
		return f
	}
	b, ok := sp.pick(from.Addr(), nil)
	if !ok {
		return nil
	}
	up, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(b))
	if err != nil {
		return nil
	}
	f = &udpFlow{up: up}
	f.last.Store(time.Now().UnixNano())
	sp.mu.Lock()
	sp.flows[from] = f
	sp.mu.Unlock()
	sp.p.m.conns.WithLabelValues(sp.svc, sp.kind).Inc()
	go sp.replies(from, f)
	return f
}

// replies sends a backend's datagrams back to the client until the flow
// has been idle for UDPIdle.
func (sp *servicePort) replies(client netip.AddrPort, f *udpFlow) {
	defer func() {
		sp.mu.Lock()
		if sp.flows[client] == f {
			delete(sp.flows, client)
		}
		sp.mu.Unlock()
		_ = f.up.Close()
	}()
	buf := make([]byte, 64<<10)
	for {
		_ = f.up.SetReadDeadline(time.Now().Add(sp.p.cfg.UDPIdle))
		n, err := f.up.Read(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, f.last.Load())) < sp.p.cfg.UDPIdle {
				continue
			}
			if !errors.As(err, &ne) || ne.Timeout() {
				return
			}
			continue // e.g. ICMP refused: the backend may come back
		}
		if k, err := sp.pc.WriteToUDPAddrPort(buf[:n], client); err == nil {
			sp.p.m.bytes.WithLabelValues(sp.svc, sp.kind, "out").Add(float64(k))
		}
	}
}

type metrics struct {
	conns, errors *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	programming   prometheus.Histogram
	ports         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "svcnet", Subsystem: "proxy", Name: "connections_total",
			Help: "Connections (TCP) and flows (UDP) forwarded, by Service and way in (ClusterIP, NodePort, LoadBalancer, ExternalIP)."}, []string{"service", "type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "svcnet", Subsystem: "proxy", Name: "errors_total",
			Help: "Backends that refused or could not be reached, and clients with no backend, by Service and way in."}, []string{"service", "type"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "svcnet", Subsystem: "proxy", Name: "bytes_total",
			Help: "Bytes forwarded, by Service, way in and direction (in: to the backend)."}, []string{"service", "type", "direction"}),
		programming: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "svcnet", Subsystem: "proxy", Name: "programming_duration_seconds",
			Help: "From an EndpointSlice's last-change-trigger-time to the proxy forwarding by it.", Buckets: prometheus.ExponentialBuckets(1e-3, 2, 16)}),
		ports: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "svcnet", Subsystem: "proxy", Name: "listeners", Help: "Listeners open (ClusterIP, external, load-balancer and node addresses)."}),
	}
	if reg != nil {
		reg.MustRegister(m.conns, m.errors, m.bytes, m.programming, m.ports)
	}
	return m
}
