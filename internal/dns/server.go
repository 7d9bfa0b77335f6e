// Package dns is svcnet's cluster DNS: it answers the Kubernetes DNS-Based
// Service Discovery specification (docs/dns.md) from an immutable snapshot of
// Services, EndpointSlices and Namespaces that informers keep current, so
// the next query after a watch event sees the change. It is the only package
// that imports miekg/dns.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
	// LameDuck keeps answering this long after Run's context ends, with
	// /ready failing, so that the Service's endpoint leaves before the
	// server does (CoreDNS's `health { lameduck 5s }`); 0 stops at once.
	LameDuck time.Duration
	// MaxSlowQueries bounds the UDP queries answered off the fast path at
	// once (forwarded upstream, malformed, unusual); past it a query is
	// answered REFUSED at once, as CoreDNS's forward answers past its
	// max_concurrent. 0 takes DefaultMaxSlowQueries.
	MaxSlowQueries int
}

// DefaultMaxSlowQueries is the default bound of Config.MaxSlowQueries:
// each waiting query holds a goroutine and its buffers (~8 KiB), so a
// flood of queries to a dead upstream costs at most ~8 MiB.
const DefaultMaxSlowQueries = 1000

// Server answers DNS queries for one cluster.
type Server struct {
	cfg    Config
	opts   Options
	src    Source
	log    *slog.Logger
	snap   atomic.Pointer[Snapshot]
	serial atomic.Uint32
	ready  chan struct{}
	// listening is closed once the UDP and TCP sockets are bound.
	listening chan struct{}
	addr      atomic.Value // string
	rnd       sync.Pool
	m         *Metrics

	// slow holds a token per UDP query answered off the fast path.
	slow chan struct{}

	triggersMu sync.Mutex
	triggers   map[string]time.Time
	// inStep says whether every kind has a watch open on the API.
	inStep *inStep
	// draining: Run's context ended and the lame-duck period runs.
	draining atomic.Bool
}

// Validate fills the defaults of c and checks it, as New does.
func (c *Config) Validate() error {
	if c.Addr == "" {
		return errors.New("dns: empty address")
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.TTL == 0 {
		c.TTL = 5
	}
	if c.TTL > 3600 {
		return fmt.Errorf("dns: ttl %d is over 3600", c.TTL)
	}
	switch c.Pods {
	case "":
		c.Pods = PodsInsecure
	case PodsInsecure, PodsVerified, PodsDisabled:
	default:
		return fmt.Errorf("dns: --pods must be insecure, verified or disabled, not %q", c.Pods)
	}
	if _, ok := mdns.IsDomainName(mdns.Fqdn(c.ClusterDomain)); !ok {
		return fmt.Errorf("dns: invalid cluster domain %q", c.ClusterDomain)
	}
	if c.MaxSlowQueries <= 0 {
		c.MaxSlowQueries = DefaultMaxSlowQueries
	}
	return nil
}

// New checks the config; it starts nothing.
func New(cfg Config, src Source, log *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	zone := strings.ToLower(mdns.Fqdn(cfg.ClusterDomain))
	s := &Server{cfg: cfg, src: src, log: log, ready: make(chan struct{}), listening: make(chan struct{}), slow: make(chan struct{}, cfg.MaxSlowQueries),
		opts: Options{Zone: zone, TTL: cfg.TTL, Pods: cfg.Pods, Shuffle: !cfg.Ordered}}
	s.snap.Store(EmptySnapshot())
	s.inStep = newInStep(time.Now)
	s.m = newMetrics(cfg.Metrics, s.inStep.unsyncedFor)
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

// ServeDNS is the thin adapter from miekg's server (TCP, and UDP on a
// wildcard address) to the fast path and Reply.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	start := time.Now()
	tcp := w.RemoteAddr().Network() == "tcp"
	if b := s.FastReply(r, tcp); b != nil {
		_, _ = w.Write(b)
		s.observeWire(b, r.Question[0].Qtype, tcp, start, w.RemoteAddr().String)
		return
	}
	if m := s.Reply(r, tcp); m != nil {
		_ = w.WriteMsg(m)
		s.observeMsg(r, m, tcp, start, w.RemoteAddr().String)
	}
}

// observeWire counts a fast-path reply (and logs it with --log-queries).
func (s *Server) observeWire(b []byte, qtype uint16, tcp bool, start time.Time, client func() string) {
	s.m.observe(qtype, tcp, int(b[3]&0x0F), start)
	if s.cfg.LogQueries {
		var m mdns.Msg
		_ = m.Unpack(b)
		s.logQuery(client(), &m, &m, start)
	}
}

// observeMsg counts a slow-path reply.
func (s *Server) observeMsg(r, m *mdns.Msg, tcp bool, start time.Time, client func() string) {
	var qtype uint16
	if len(r.Question) > 0 {
		qtype = r.Question[0].Qtype
	}
	s.m.observe(qtype, tcp, m.Rcode, start)
	if s.cfg.LogQueries {
		s.logQuery(client(), r, m, start)
	}
}

func (s *Server) logQuery(client string, r, m *mdns.Msg, start time.Time) {
	var qtype uint16
	var qname string
	if len(r.Question) > 0 {
		qtype, qname = r.Question[0].Qtype, r.Question[0].Name
	}
	s.log.Info("query", "client", client, "name", qname, "type", mdns.TypeToString[qtype],
		"rcode", mdns.RcodeToString[m.Rcode], "answers", len(m.Answer), "tc", m.Truncated, "duration", time.Since(start))
}

// FastReply answers a plain query from the snapshot's precomputed replies,
// or returns nil for Reply to handle it.
func (s *Server) FastReply(r *mdns.Msg, tcp bool) []byte {
	snap := s.snap.Load()
	if !snap.Synced {
		return nil
	}
	b, err := r.Pack()
	if err != nil {
		return nil
	}
	rnd := s.rnd.Get().(*rand.Rand)
	defer s.rnd.Put(rnd)
	out, _ := s.fastReply(snap, b, nil, make([]byte, 0, 258), tcp, rnd)
	return out
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
	pc, ln, err := listen(s.cfg.Addr)
	if err != nil {
		return err
	}
	s.addr.Store(pc.LocalAddr().String())
	close(s.listening)
	// Serving outlives ctx by the lame-duck period; the API sync does not.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	errc := make(chan error, 3)
	var udp *mdns.Server
	if ap, err := netip.ParseAddrPort(pc.LocalAddr().String()); err == nil && !ap.Addr().IsUnspecified() {
		// One address: workers of our own read and answer (udp.go).
		go func() { errc <- ServeUDP(sctx, pc.(*net.UDPConn), udpWorkers(), s.handleUDP) }()
	} else {
		// A wildcard address: miekg's server answers from the address each
		// query came to.
		udp = &mdns.Server{PacketConn: pc, Handler: s, UDPSize: 4096}
		go func() { errc <- udp.ActivateAndServe() }()
	}
	tcp := &mdns.Server{Listener: ln, Handler: s, ReadTimeout: 5 * time.Second, IdleTimeout: func() time.Duration { return 10 * time.Second }}
	go func() { errc <- tcp.ActivateAndServe() }()
	go func() { errc <- s.sync(ctx) }()
	s.log.Info("dns serving", "addr", s.Addr(), "zone", s.opts.Zone)
	select {
	case <-ctx.Done():
		if s.cfg.LameDuck > 0 {
			s.draining.Store(true)
			s.log.Info("dns lame duck: answering on while the endpoint leaves", "for", s.cfg.LameDuck)
			t := time.NewTimer(s.cfg.LameDuck)
			select {
			case <-t.C:
			case err = <-errc:
			}
			t.Stop()
		}
	case err = <-errc:
	}
	cancel()
	if udp != nil {
		_ = udp.Shutdown()
	}
	_ = pc.Close()
	_ = tcp.Shutdown()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// listen binds UDP and TCP on one address. With port 0 the UDP socket picks
// the port and TCP takes the same one; if that TCP port is taken, it tries
// another (a few times).
func listen(addr string) (net.PacketConn, net.Listener, error) {
	_, port, _ := net.SplitHostPort(addr)
	for attempt := 0; ; attempt++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns listen udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || attempt == 9 || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, nil, fmt.Errorf("dns listen tcp %s: %w", pc.LocalAddr(), err)
		}
	}
}

// udpWorkers is how many goroutines read the UDP socket: two per CPU, so a
// worker descheduled mid-query does not leave a CPU idle.
func udpWorkers() int { return 2 * goruntime.GOMAXPROCS(0) }

// sync keeps the snapshot current: a full build once every kind has been
// listed, then, in batches, each Service a change touched.
func (s *Server) sync(ctx context.Context) error {
	start := time.Now()
	q := workqueue.NewTypedWithConfig[string](workqueue.TypedQueueConfig[string]{Name: "dns"})
	defer q.ShutDown()
	const nsKey = "\x00namespaces"
	const podPrefix = "\x00pods/"
	// Changes count once the full build starts reading the stores; the
	// ones before are in what it reads.
	var live atomic.Bool
	enqueue := func(key string) {
		if live.Load() {
			q.Add(key)
		}
	}
	svcs := newRecordStore(toSvcRecord, nil, sameService, enqueue)
	slices := newRecordStore(toSliceRecord, func(r *sliceRecord) string { return r.ns + "/" + r.service }, sameSlice, func(g string) {
		if !strings.HasSuffix(g, "/") { // a slice without a service label serves no name
			enqueue(g)
		}
	})
	nss := newRecordStore(toNameRecord, nil, sameName, func(string) { enqueue(nsKey) })
	relisted := func(kind string) func(int) {
		return func(n int) {
			s.m.relists.WithLabelValues(kind).Inc()
			s.log.Info("dns relisted", "kind", kind, "objects", n)
		}
	}
	run := func(lw cache.ListerWatcher, obj runtime.Object, store cache.ReflectorStore, name string) {
		backoff := reflectorBackoff
		r := cache.NewReflectorWithOptions(s.inStep.track(lw, name), obj, store, cache.ReflectorOptions{Name: "dns " + name, Backoff: &backoff})
		go r.RunWithContext(ctx)
	}
	svcs.relisted, slices.relisted, nss.relisted = relisted("services"), relisted("endpointslices"), relisted("namespaces")
	// Services and slices arrive as API objects or, decoded from protobuf
	// straight into records, as protoRecords: no one expected type.
	run(s.src.Services, nil, svcs, "services")
	run(s.src.EndpointSlices, nil, slices, "endpointslices")
	run(s.src.Namespaces, &corev1.Namespace{}, nss, "namespaces")
	synced := []chan struct{}{svcs.synced, slices.synced, nss.synced}
	var pods *recordStore[*podRecord]
	if s.cfg.Pods == PodsVerified {
		pods = newRecordStore(toPodRecord, func(r *podRecord) string { return r.ns }, samePod, func(ns string) { enqueue(podPrefix + ns) })
		pods.relisted = relisted("pods")
		run(s.src.Pods, &corev1.Pod{}, pods, "pods")
		synced = append(synced, pods.synced)
	}
	for _, c := range synced {
		select {
		case <-c:
		case <-ctx.Done():
			return nil
		}
	}
	s.log.Debug("dns listed everything", "after", time.Since(start))
	st := &stores{svcs: svcs, slices: slices, nss: nss, pods: pods}
	live.Store(true)
	built := time.Now()
	s.fullBuild(st)
	s.log.Debug("dns built the index", "took", time.Since(built))
	// The first list is the one peak of a DNS's life (decoded objects,
	// the reflectors' staging stores); hand it back now, not over minutes.
	debug.FreeOSMemory()
	close(s.ready)
	s.m.synced.Set(1)
	s.m.services.Set(float64(s.snap.Load().Len()))
	s.log.Info("dns synced", "services", s.snap.Load().Len(), "after", time.Since(start))
	if s.src.Healthz != nil {
		go s.watchAPI(ctx)
	}
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
				s.snap.Store(s.snap.Load().WithPods(strings.ToLower(ns), st.podIPs(ns), s.nextSerial()))
			} else if key == nsKey {
				s.snap.Store(s.snap.Load().WithNamespaces(st.namespaces(), s.nextSerial()))
			} else {
				changes[strings.ToLower(key)] = st.service(key)
				triggers = append(triggers, key)
			}
		}
		if len(changes) > 0 {
			next := s.snap.Load().WithServices(changes, s.nextSerial())
			s.log.Debug("dns published", "services changed", len(changes), "batch", len(batch))
			s.snap.Store(next)
			s.m.services.Set(float64(next.Len()))
			for _, key := range triggers {
				s.observeProgramming(key, st)
			}
		}
		for _, k := range batch {
			q.Done(k)
		}
	}
}

// stores are the records the snapshot is built from.
type stores struct {
	svcs   *recordStore[*svcRecord]
	slices *recordStore[*sliceRecord]
	nss    *recordStore[*nameRecord]
	pods   *recordStore[*podRecord] // nil unless --pods verified
}

// service joins a Service and its slices; nil when the Service is gone.
func (st *stores) service(key string) *Service {
	r, ok := st.svcs.get(key)
	if !ok {
		return nil
	}
	return withEndpoints(r.svc, st.slices.inGroup(key))
}

func (st *stores) namespaces() map[string]bool {
	set := map[string]bool{}
	st.nss.each(func(_ string, r *nameRecord) { set[strings.ToLower(r.name)] = true })
	return set
}

func (st *stores) podIPs(ns string) map[netip.Addr]bool {
	ips := map[netip.Addr]bool{}
	for _, p := range st.pods.inGroup(ns) {
		for _, a := range p.ips {
			ips[a] = true
		}
	}
	return ips
}

func (s *Server) fullBuild(st *stores) {
	var keys []string
	st.svcs.each(func(key string, _ *svcRecord) { keys = append(keys, key) })
	all := make(map[string]*Service, len(keys))
	for _, key := range keys {
		if b := st.service(key); b != nil {
			all[b.Namespace+"/"+b.Name] = b
		}
	}
	snap := build(all)
	snap.Namespaces = st.namespaces()
	if st.pods != nil {
		for ns := range snap.Namespaces {
			if ips := st.podIPs(ns); len(ips) > 0 {
				snap.Pods[ns] = ips
			}
		}
	}
	snap.Synced = true
	snap.Serial = s.serial.Add(1) + uint32(time.Now().Unix())
	s.snap.Store(snap)
}

func (s *Server) nextSerial() uint32 { return uint32(time.Now().Unix()) + s.serial.Add(1) }

// observeProgramming records the time from the newest trigger time of a
// service's slices to now, when queries see it; each change once.
func (s *Server) observeProgramming(key string, st *stores) {
	var newest time.Time
	for _, sl := range st.slices.inGroup(key) {
		if sl.trigger.After(newest) {
			newest = sl.trigger
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
		if err := s.src.Healthz(ctx); err == nil {
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
