// Package dns is svcnet's cluster DNS: it answers the Kubernetes DNS-Based
// Service Discovery specification (docs/dns.md) from an immutable snapshot of
// Services, EndpointSlices and Namespaces that informers keep current, so
// the next query after a watch event sees the change. It is the only package
// that imports miekg/dns.
package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Config of the DNS server.
type Config struct {
	// Addr is the UDP and TCP listen address, e.g. 127.0.0.1:1053.
	Addr          string
	ClusterDomain string
	TTL           uint32
	Pods          PodsMode
	// Ordered turns off the per-query shuffle of multi-record answers.
	Ordered bool
	// Upstreams (host:port) answer names outside the cluster's zones; none
	// makes those REFUSED.
	Upstreams []string
	// Metrics registers the server's metrics; nil keeps them unregistered.
	Metrics prometheus.Registerer
	// LogQueries logs every query at info level.
	LogQueries bool
}

// Server answers DNS queries for one cluster.
type Server struct {
	cfg    Config
	opts   Options
	client kubernetes.Interface
	log    *slog.Logger
	snap   atomic.Pointer[Snapshot]
	serial atomic.Uint32
	ready  chan struct{}
	// listening is closed once the UDP and TCP sockets are bound.
	listening chan struct{}
	addr      atomic.Value // string
	rnd       sync.Pool
	m         *Metrics

	triggersMu sync.Mutex
	triggers   map[string]time.Time
}

// New checks the config; it starts nothing.
func New(cfg Config, client kubernetes.Interface, log *slog.Logger) (*Server, error) {
	if cfg.Addr == "" {
		return nil, errors.New("dns: empty address")
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.TTL == 0 {
		cfg.TTL = 5
	}
	if cfg.TTL > 3600 {
		return nil, fmt.Errorf("dns: ttl %d is over 3600", cfg.TTL)
	}
	switch cfg.Pods {
	case "":
		cfg.Pods = PodsInsecure
	case PodsInsecure, PodsVerified, PodsDisabled:
	default:
		return nil, fmt.Errorf("dns: --pods must be insecure, verified or disabled, not %q", cfg.Pods)
	}
	zone := strings.ToLower(mdns.Fqdn(cfg.ClusterDomain))
	if _, ok := mdns.IsDomainName(zone); !ok {
		return nil, fmt.Errorf("dns: invalid cluster domain %q", cfg.ClusterDomain)
	}
	s := &Server{cfg: cfg, client: client, log: log, ready: make(chan struct{}), listening: make(chan struct{}),
		opts: Options{Zone: zone, TTL: cfg.TTL, Pods: cfg.Pods, Shuffle: !cfg.Ordered}}
	s.snap.Store(EmptySnapshot())
	s.m = newMetrics(cfg.Metrics)
	s.triggers = map[string]time.Time{}
	s.rnd.New = func() any { return rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())) }
	return s, nil
}

// Ready is closed once the first sync is done.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Listening is closed once the sockets are bound (Addr is set).
func (s *Server) Listening() <-chan struct{} { return s.listening }

// Addr is the bound address, once listening.
func (s *Server) Addr() string { v, _ := s.addr.Load().(string); return v }

// Snapshot returns the current snapshot (for tests and metrics).
func (s *Server) Snapshot() *Snapshot { return s.snap.Load() }

// ServeDNS is the thin adapter from the wire to Resolve.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	start := time.Now()
	tcp := w.RemoteAddr().Network() == "tcp"
	var rcode, answers int
	var truncated bool
	if b := s.FastReply(r, tcp); b != nil {
		_, _ = w.Write(b)
		rcode, answers = int(b[3]&0x0F), int(binary.BigEndian.Uint16(b[6:]))
	} else {
		m := s.Reply(r, tcp)
		if m == nil {
			return
		}
		_ = w.WriteMsg(m)
		rcode, answers, truncated = m.Rcode, len(m.Answer), m.Truncated
	}
	var qtype uint16
	var qname string
	if len(r.Question) > 0 {
		qtype, qname = r.Question[0].Qtype, r.Question[0].Name
	}
	s.m.observe(qtype, tcp, rcode, start)
	if s.cfg.LogQueries {
		s.log.Info("query", "client", w.RemoteAddr().String(), "name", qname, "type", mdns.TypeToString[qtype],
			"rcode", mdns.RcodeToString[rcode], "answers", answers, "tc", truncated, "duration", time.Since(start))
	}
}

// FastReply answers a plain query from the snapshot's precomputed replies,
// or returns nil for Reply to handle it.
func (s *Server) FastReply(r *mdns.Msg, tcp bool) []byte {
	if r.Response || r.Opcode != mdns.OpcodeQuery || len(r.Question) != 1 || len(r.Answer)+len(r.Ns) > 0 {
		return nil
	}
	q := r.Question[0]
	if q.Qclass != mdns.ClassINET || q.Qtype == mdns.TypeAXFR || q.Qtype == mdns.TypeIXFR {
		return nil
	}
	opt := r.IsEdns0()
	if len(r.Extra) > 1 || (len(r.Extra) == 1 && opt == nil) {
		return nil
	}
	limit := 512
	if opt != nil {
		if opt.Version() != 0 || len(opt.Option) > 0 {
			return nil
		}
		limit = max(512, min(int(opt.UDPSize()), 4096))
	}
	advertised := limit
	if tcp {
		limit = 0
	}
	snap := s.snap.Load()
	if !snap.Synced {
		return nil
	}
	return s.fastReply(snap, r, opt, limit, advertised)
}

// Reply forms the answer to a request: nil drops it (no reply can be formed).
func (s *Server) Reply(r *mdns.Msg, tcp bool) *mdns.Msg {
	if r.Response {
		return nil
	}
	m := new(mdns.Msg)
	m.SetReply(r)
	m.Compress = true
	if r.Opcode != mdns.OpcodeQuery {
		m.Rcode = mdns.RcodeNotImplemented
		return m
	}
	if len(r.Question) != 1 {
		m.Rcode = mdns.RcodeFormatError
		return m
	}
	size := 512
	opt := r.IsEdns0()
	if opt != nil {
		if opt.Version() != 0 {
			m.SetEdns0(4096, false)
			m.MsgHdr.Rcode = mdns.RcodeBadVers
			return m
		}
		size = max(512, min(int(opt.UDPSize()), 4096))
	}
	q := r.Question[0]
	if q.Qclass != mdns.ClassINET && q.Qclass != mdns.ClassANY {
		m.Rcode = mdns.RcodeRefused
		return m
	}
	if q.Qtype == mdns.TypeAXFR || q.Qtype == mdns.TypeIXFR {
		m.Rcode = mdns.RcodeRefused // C3
		return m
	}
	rnd := s.rnd.Get().(*rand.Rand)
	ans := Resolve(s.snap.Load(), s.opts, q.Name, q.Qtype, rnd)
	s.rnd.Put(rnd)
	if (ans.Refused || ans.Fallthrough) && len(s.cfg.Upstreams) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		if resp := s.forward(ctx, r); resp != nil {
			return resp
		}
		m.Rcode = mdns.RcodeServerFailure
		return m
	}
	if ans.Refused {
		m.Rcode = mdns.RcodeRefused
	} else {
		m.Authoritative = true // R7
		m.Rcode = ans.Rcode
		m.Answer, m.Ns, m.Extra = ans.Answer, ans.Ns, ans.Extra
		if len(s.cfg.Upstreams) > 0 && (q.Qtype == mdns.TypeA || q.Qtype == mdns.TypeAAAA) && len(m.Answer) == 1 {
			if c, ok := m.Answer[0].(*mdns.CNAME); ok && !mdns.IsSubDomain(s.opts.Zone, c.Target) {
				ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
				m.Answer = append(m.Answer, s.chase(ctx, c.Target, q.Qtype)...)
				cancel()
			}
		}
	}
	if opt != nil {
		m.SetEdns0(uint16(size), false)
	}
	if tcp {
		size = mdns.MaxMsgSize
	}
	if m.Len() > size {
		m.Truncate(size) // R4: TC is set; the full answer comes over TCP
	}
	return m
}

// Run syncs the snapshot from the API and serves UDP and TCP until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	pc, err := net.ListenPacket("udp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dns listen udp %s: %w", s.cfg.Addr, err)
	}
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	if err != nil {
		pc.Close()
		return fmt.Errorf("dns listen tcp %s: %w", pc.LocalAddr(), err)
	}
	s.addr.Store(pc.LocalAddr().String())
	close(s.listening)
	udp := &mdns.Server{PacketConn: pc, Handler: s, UDPSize: 4096}
	tcp := &mdns.Server{Listener: ln, Handler: s, ReadTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }}
	errc := make(chan error, 3)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	go func() { errc <- s.sync(ctx) }()
	s.log.Info("dns serving", "addr", s.Addr(), "zone", s.opts.Zone)
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	_ = udp.Shutdown()
	_ = tcp.Shutdown()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// sync keeps the snapshot current: a full build once the informers have
// synced, then one Service at a time as events arrive.
func (s *Server) sync(ctx context.Context) error {
	factory := informers.NewSharedInformerFactory(s.client, 0)
	svcInf := factory.Core().V1().Services()
	sliceInf := factory.Discovery().V1().EndpointSlices()
	nsInf := factory.Core().V1().Namespaces()
	q := workqueue.NewTypedWithConfig[string](workqueue.TypedQueueConfig[string]{Name: "dns"})
	defer q.ShutDown()
	const nsKey = "\x00namespaces"
	enqueueSvc := func(obj interface{}) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			q.Add(key)
		}
	}
	enqueueSlice := func(obj interface{}) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if sl, ok := obj.(*discoveryv1.EndpointSlice); ok && sl.Labels[discoveryv1.LabelServiceName] != "" {
			q.Add(sl.Namespace + "/" + sl.Labels[discoveryv1.LabelServiceName])
		}
	}
	h := func(f func(interface{})) cache.ResourceEventHandlerFuncs {
		return cache.ResourceEventHandlerFuncs{AddFunc: f, UpdateFunc: func(_, o interface{}) { f(o) }, DeleteFunc: f}
	}
	// Keep only what DNS reads (memory must stay flat at scale).
	_ = svcInf.Informer().SetTransform(trimService)
	_ = sliceInf.Informer().SetTransform(trimSlice)
	_ = nsInf.Informer().SetTransform(trimMeta)
	_, _ = svcInf.Informer().AddEventHandler(h(enqueueSvc))
	_, _ = sliceInf.Informer().AddEventHandler(h(enqueueSlice))
	_, _ = nsInf.Informer().AddEventHandler(h(func(interface{}) { q.Add(nsKey) }))
	synced := []cache.InformerSynced{svcInf.Informer().HasSynced, sliceInf.Informer().HasSynced, nsInf.Informer().HasSynced}
	const podPrefix = "\x00pods/"
	var pods corelisters.PodLister
	if s.cfg.Pods == PodsVerified {
		// Pods only for --pods verified, trimmed to what DNS needs.
		podInf := factory.Core().V1().Pods()
		_ = podInf.Informer().SetTransform(trimPod)
		_, _ = podInf.Informer().AddEventHandler(h(func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				q.Add(podPrefix + p.Namespace)
			}
		}))
		pods = podInf.Lister()
		synced = append(synced, podInf.Informer().HasSynced)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return nil
	}
	svcs, slices, nss := svcInf.Lister(), sliceInf.Lister(), nsInf.Lister()
	if err := s.fullBuild(svcs, slices, nss, pods); err != nil {
		return err
	}
	close(s.ready)
	s.m.synced.Set(1)
	s.m.services.Set(float64(s.snap.Load().Len()))
	s.log.Info("dns synced", "services", s.snap.Load().Len())
	go s.watchAPI(ctx)
	for {
		key, quit := q.Get()
		if quit {
			return nil
		}
		// Take what else is queued, up to a bound, and publish once.
		batch := []string{key}
		for len(batch) < 5000 && q.Len() > 0 {
			k, quit := q.Get()
			if quit {
				break
			}
			batch = append(batch, k)
		}
		changes := map[string]*Service{}
		var triggers []string
		for _, key := range batch {
			if ns, ok := strings.CutPrefix(key, podPrefix); ok {
				s.setPods(ns, pods)
			} else if key == nsKey {
				s.setNamespaces(nss)
			} else if b, ok := s.buildService(key, svcs, slices); ok {
				changes[strings.ToLower(key)] = b
				triggers = append(triggers, key)
			}
		}
		if len(changes) > 0 {
			next := s.snap.Load().WithServices(changes, s.opts.Zone, s.nextSerial())
			s.snap.Store(next)
			s.m.services.Set(float64(next.Len()))
			for _, key := range triggers {
				s.observeProgramming(key, slices)
			}
		}
		for _, k := range batch {
			q.Done(k)
		}
	}
}

func (s *Server) fullBuild(svcs corelisters.ServiceLister, slices discoverylisters.EndpointSliceLister, nss corelisters.NamespaceLister, pods corelisters.PodLister) error {
	snap := EmptySnapshot()
	all, err := svcs.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, svc := range all {
		sl, _ := slices.EndpointSlices(svc.Namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc.Name}))
		b := BuildService(svc, sl)
		snap.add(b.Namespace+"/"+b.Name, b, s.opts.Zone)
	}
	list, err := nss.List(labels.Everything())
	if err != nil {
		return err
	}
	for _, n := range list {
		snap.Namespaces[strings.ToLower(n.Name)] = true
	}
	if pods != nil {
		for _, n := range list {
			if ips := podIPs(pods, n.Name); len(ips) > 0 {
				snap.Pods[strings.ToLower(n.Name)] = ips
			}
		}
	}
	snap.Synced = true
	snap.Serial = s.serial.Add(1) + uint32(time.Now().Unix())
	s.snap.Store(snap)
	return nil
}

func (s *Server) setNamespaces(nss corelisters.NamespaceLister) {
	list, err := nss.List(labels.Everything())
	if err != nil {
		return
	}
	set := make(map[string]bool, len(list))
	for _, n := range list {
		set[strings.ToLower(n.Name)] = true
	}
	s.snap.Store(s.snap.Load().WithNamespaces(set, s.nextSerial()))
}

// trimMeta keeps an object's identity only.
func trimMeta(obj interface{}) (interface{}, error) {
	if o, ok := obj.(metav1.Object); ok {
		o.SetManagedFields(nil)
		o.SetAnnotations(nil)
		o.SetLabels(nil)
		o.SetOwnerReferences(nil)
	}
	return obj, nil
}

// trimService keeps the fields DNS answers from.
func trimService(obj interface{}) (interface{}, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return obj, nil
	}
	out := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, UID: svc.UID, ResourceVersion: svc.ResourceVersion},
		Spec: corev1.ServiceSpec{Type: svc.Spec.Type, ClusterIP: svc.Spec.ClusterIP, ClusterIPs: svc.Spec.ClusterIPs, ExternalName: svc.Spec.ExternalName}}
	for _, p := range svc.Spec.Ports {
		out.Spec.Ports = append(out.Spec.Ports, corev1.ServicePort{Name: p.Name, Protocol: p.Protocol, Port: p.Port})
	}
	return out, nil
}

// trimSlice keeps addresses, readiness, hostnames, ports, the owning
// Service's label and the trigger-time annotation.
func trimSlice(obj interface{}) (interface{}, error) {
	sl, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return obj, nil
	}
	out := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: sl.Name, Namespace: sl.Namespace, UID: sl.UID, ResourceVersion: sl.ResourceVersion,
		Labels: map[string]string{discoveryv1.LabelServiceName: sl.Labels[discoveryv1.LabelServiceName]}},
		AddressType: sl.AddressType, Ports: sl.Ports}
	if t, ok := sl.Annotations[corev1.EndpointsLastChangeTriggerTime]; ok {
		out.Annotations = map[string]string{corev1.EndpointsLastChangeTriggerTime: t}
	}
	out.Endpoints = make([]discoveryv1.Endpoint, len(sl.Endpoints))
	for i, e := range sl.Endpoints {
		out.Endpoints[i] = discoveryv1.Endpoint{Addresses: e.Addresses, Conditions: discoveryv1.EndpointConditions{Ready: e.Conditions.Ready}, Hostname: e.Hostname}
	}
	return out, nil
}

// trimPod keeps only what --pods verified needs of a pod.
func trimPod(obj interface{}) (interface{}, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, ResourceVersion: p.ResourceVersion, UID: p.UID},
		Status: corev1.PodStatus{PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs}}, nil
}

func (s *Server) setPods(ns string, pods corelisters.PodLister) {
	s.snap.Store(s.snap.Load().WithPods(strings.ToLower(ns), podIPs(pods, ns), s.nextSerial()))
}

func podIPs(pods corelisters.PodLister, ns string) map[netip.Addr]bool {
	list, _ := pods.Pods(ns).List(labels.Everything())
	ips := map[netip.Addr]bool{}
	for _, p := range list {
		for _, ip := range p.Status.PodIPs {
			if a, err := netip.ParseAddr(ip.IP); err == nil {
				ips[a] = true
			}
		}
	}
	return ips
}

func (s *Server) nextSerial() uint32 { return uint32(time.Now().Unix()) + s.serial.Add(1) }

// buildService reads one Service and its slices from the informers; ok is
// false when the key is malformed or the read failed (nil means deleted).
func (s *Server) buildService(key string, svcs corelisters.ServiceLister, slices discoverylisters.EndpointSliceLister) (*Service, bool) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil, false
	}
	svc, err := svcs.Services(ns).Get(name)
	switch {
	case apierrors.IsNotFound(err):
		return nil, true
	case err != nil:
		return nil, false
	}
	sl, _ := slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
	return BuildService(svc, sl), true
}

// observeProgramming records the time from the newest trigger time of a
// service's slices to now, when queries see it; each change once.
func (s *Server) observeProgramming(key string, slices discoverylisters.EndpointSliceLister) {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	sl, _ := slices.EndpointSlices(ns).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
	var newest time.Time
	for _, x := range sl {
		if t, err := time.Parse(time.RFC3339Nano, x.Annotations[corev1.EndpointsLastChangeTriggerTime]); err == nil && t.After(newest) {
			newest = t
		}
	}
	if !newest.IsZero() && s.seen(key, newest) {
		s.m.programming.Observe(time.Since(newest).Seconds())
	}
}

// seen records a service's newest trigger time and reports whether it is
// new, so each change is observed once.
func (s *Server) seen(key string, t time.Time) bool {
	s.triggersMu.Lock()
	defer s.triggersMu.Unlock()
	if !t.After(s.triggers[key]) {
		return false
	}
	s.triggers[key] = t
	return true
}

// watchAPI keeps the api_reachable gauge: informers keep their caches while
// the API is away, so DNS answers from the last state; the gauge says so.
func (s *Server) watchAPI(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		up := 0.0
		if _, err := s.client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx); err == nil {
			up = 1
		}
		s.m.apiUp.Set(up)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
