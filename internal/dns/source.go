package dns

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Source is where the DNS reads the cluster from: one ListerWatcher per kind
// it follows. NewAPISource builds one on a REST config.
type Source struct {
	Services, EndpointSlices, Namespaces, Pods cache.ListerWatcher
	// Healthz returns nil while the API answers (the api_reachable gauge);
	// nil leaves the gauge alone.
	Healthz func(context.Context) error
}

// NewAPISource reads the cluster through the API of cfg, with a scheme of
// only the kinds DNS reads (the DNS-only binary stays small). An empty
// cfg.ContentType means protobuf.
func NewAPISource(cfg *rest.Config) (Source, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return Source{}, err
	}
	if err := discoveryv1.AddToScheme(scheme); err != nil {
		return Source{}, err
	}
	codecs := serializer.NewCodecFactory(scheme)
	client := func(gv schema.GroupVersion, apiPath string) (*rest.RESTClient, error) {
		c := rest.CopyConfig(cfg)
		c.GroupVersion, c.APIPath = &gv, apiPath
		c.NegotiatedSerializer = newRecordCodecs(codecs.WithoutConversion())
		if c.ContentType == "" {
			c.ContentType = runtime.ContentTypeProtobuf
			c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
		}
		if c.UserAgent == "" {
			c.UserAgent = rest.DefaultKubernetesUserAgent()
		}
		// HTTP/1.1: each watch on a connection of its own, so the initial
		// lists stream and decode in parallel without HTTP/2's flow-control
		// round trips (a fifth off the time to first answer at 10k).
		c.TLSClientConfig.NextProtos = []string{"http/1.1"}
		return rest.RESTClientFor(c)
	}
	core, err := client(corev1.SchemeGroupVersion, "/api")
	if err != nil {
		return Source{}, fmt.Errorf("dns: core client: %w", err)
	}
	disc, err := client(discoveryv1.SchemeGroupVersion, "/apis")
	if err != nil {
		return Source{}, fmt.Errorf("dns: discovery client: %w", err)
	}
	lw := func(c *rest.RESTClient, resource string) cache.ListerWatcher {
		return cache.NewListWatchFromClient(c, resource, metav1.NamespaceAll, fields.Everything())
	}
	return Source{
		Services:       lw(core, "services"),
		EndpointSlices: lw(disc, "endpointslices"),
		Namespaces:     lw(core, "namespaces"),
		Pods:           lw(core, "pods"),
		Healthz:        func(ctx context.Context) error { return core.Get().AbsPath("/readyz").Do(ctx).Error() },
	}, nil
}

// The records below are what the DNS keeps of each object instead of the
// object: a reflector's store converts every object on arrival, so no API
// object outlives its decoding. Each record can name itself (GetObjectMeta)
// so the reflector's own staging store can hold records too.

// svcRecord is a Service as DNS reads it, without endpoints.
type svcRecord struct{ svc *Service }

// sliceRecord is one EndpointSlice: its Service, its endpoints (sorted by
// address) and the newest trigger time it carries.
type sliceRecord struct {
	ns, name, service string
	eps               []Endpoint
	trigger           time.Time
}

// nameRecord keeps only an object's identity (namespaces).
type nameRecord struct{ name string }

// podRecord keeps a pod's IPs (only --pods verified reads pods).
type podRecord struct {
	ns, name string
	ips      []netip.Addr
}

func (r *svcRecord) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: r.svc.Namespace, Name: r.svc.Name}
}
func (r *sliceRecord) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: r.ns, Name: r.name}
}
func (r *nameRecord) GetObjectMeta() metav1.Object { return &metav1.ObjectMeta{Name: r.name} }
func (r *podRecord) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: r.ns, Name: r.name}
}

// toSvcRecord converts a Service (or passes a record through).
func toSvcRecord(obj any) (string, *svcRecord, bool) {
	switch o := obj.(type) {
	case *svcRecord:
		return o.svc.Namespace + "/" + o.svc.Name, o, true
	case *corev1.Service:
		return o.Namespace + "/" + o.Name, &svcRecord{svc: serviceOf(o)}, true
	case *protoRecord:
		r, ok := o.rec.(*svcRecord)
		return o.Namespace + "/" + o.Name, r, ok
	}
	return "", nil, false
}

func toSliceRecord(obj any) (string, *sliceRecord, bool) {
	switch o := obj.(type) {
	case *sliceRecord:
		return o.ns + "/" + o.name, o, true
	case *discoveryv1.EndpointSlice:
		return o.Namespace + "/" + o.Name, sliceOf(o), true
	case *protoRecord:
		r, ok := o.rec.(*sliceRecord)
		return o.Namespace + "/" + o.Name, r, ok
	}
	return "", nil, false
}

func toNameRecord(obj any) (string, *nameRecord, bool) {
	switch o := obj.(type) {
	case *nameRecord:
		return o.name, o, true
	case *corev1.Namespace:
		return o.Name, &nameRecord{name: o.Name}, true
	}
	return "", nil, false
}

func toPodRecord(obj any) (string, *podRecord, bool) {
	switch o := obj.(type) {
	case *podRecord:
		return o.ns + "/" + o.name, o, true
	case *corev1.Pod:
		r := &podRecord{ns: o.Namespace, name: o.Name}
		for _, ip := range o.Status.PodIPs {
			if a, err := netip.ParseAddr(ip.IP); err == nil {
				r.ips = append(r.ips, a)
			}
		}
		return o.Namespace + "/" + o.Name, r, true
	}
	return "", nil, false
}

// serviceView is what DNS reads of a Service, whichever encoding it came
// in: serviceOf fills it from an API object, the protobuf decoder straight
// from the wire. Addresses are parsed already (the unparsable left out).
type serviceView struct {
	name, namespace, typ, externalName string
	clusterIP                          string // "None" for headless; kept unparsed for that
	clusterIPs                         []netip.Addr
	ports                              []portView
}

// portView is a port of a Service or EndpointSlice; has* tell a slice's
// absent fields (pointers in the API types) from empty ones.
type portView struct {
	name, proto       string
	port              int32
	hasProto, hasPort bool
}

// serviceOf reads what DNS answers from a Service (Endpoints stay empty).
func serviceOf(svc *corev1.Service) *Service {
	v := serviceView{name: svc.Name, namespace: svc.Namespace, typ: string(svc.Spec.Type),
		externalName: svc.Spec.ExternalName, clusterIP: svc.Spec.ClusterIP}
	for _, ip := range svc.Spec.ClusterIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			v.clusterIPs = append(v.clusterIPs, a)
		}
	}
	for _, p := range svc.Spec.Ports {
		v.ports = append(v.ports, portView{name: p.Name, proto: string(p.Protocol), port: p.Port, hasProto: true, hasPort: true})
	}
	return v.service()
}

// service builds the record of a Service view.
func (v *serviceView) service() *Service {
	s := &Service{Name: strings.ToLower(v.name), Namespace: strings.ToLower(v.namespace)}
	if v.typ == string(corev1.ServiceTypeExternalName) {
		s.ExternalName = strings.ToLower(strings.TrimSuffix(v.externalName, ".")) + "."
		return s
	}
	s.Headless = v.clusterIP == corev1.ClusterIPNone
	if len(v.clusterIPs) > 0 {
		s.ClusterIPs = slices.Clone(v.clusterIPs) // the view may be reused
	}
	if len(s.ClusterIPs) == 0 && !s.Headless {
		if a, err := netip.ParseAddr(v.clusterIP); err == nil {
			s.ClusterIPs = append(s.ClusterIPs, a)
		}
	}
	for _, p := range v.ports {
		if p.name == "" {
			continue // unnamed ports get no SRV (S7)
		}
		s.Ports = append(s.Ports, Port{Name: strings.ToLower(p.name), Proto: lowerProto(p.proto), Port: uint16(p.port)})
	}
	return s
}

// lowerProto lower-cases a protocol without allocating for the usual ones.
func lowerProto(p string) string {
	switch p {
	case "TCP", "tcp":
		return "tcp"
	case "UDP", "udp":
		return "udp"
	case "SCTP", "sctp":
		return "sctp"
	}
	return strings.ToLower(p)
}

// sliceView is what DNS reads of an EndpointSlice, whichever encoding it
// came in.
type sliceView struct {
	ns, name, service, trigger, addressType string
	ports                                   []portView
	eps                                     []endpointView
}

// endpointView is one endpoint of a slice: its parsable addresses, its
// readiness (absent means ready) and hostname.
type endpointView struct {
	addrs []netip.Addr
	ready bool
	host  string
}

// sliceOf reads an EndpointSlice's addresses, readiness, hostnames and
// named ports.
func sliceOf(sl *discoveryv1.EndpointSlice) *sliceRecord {
	v := sliceView{ns: sl.Namespace, name: sl.Name, service: sl.Labels[discoveryv1.LabelServiceName],
		trigger: sl.Annotations[corev1.EndpointsLastChangeTriggerTime], addressType: string(sl.AddressType)}
	for _, p := range sl.Ports {
		pv := portView{hasProto: p.Protocol != nil, hasPort: p.Port != nil}
		if p.Name != nil {
			pv.name = *p.Name
		}
		if p.Protocol != nil {
			pv.proto = string(*p.Protocol)
		}
		if p.Port != nil {
			pv.port = *p.Port
		}
		v.ports = append(v.ports, pv)
	}
	for _, e := range sl.Endpoints {
		ev := endpointView{ready: e.Conditions.Ready == nil || *e.Conditions.Ready}
		if e.Hostname != nil {
			ev.host = *e.Hostname
		}
		for _, addr := range e.Addresses {
			if a, err := netip.ParseAddr(addr); err == nil {
				ev.addrs = append(ev.addrs, a)
			}
		}
		v.eps = append(v.eps, ev)
	}
	return v.slice()
}

// slice builds the record of a slice view; slices of other address types
// (FQDN) contribute no endpoints.
func (v *sliceView) slice() *sliceRecord {
	r := &sliceRecord{ns: v.ns, name: v.name, service: v.service}
	if t, err := time.Parse(time.RFC3339Nano, v.trigger); err == nil {
		r.trigger = t
	}
	if v.addressType != string(discoveryv1.AddressTypeIPv4) && v.addressType != string(discoveryv1.AddressTypeIPv6) {
		return r
	}
	var ports []Port
	for _, p := range v.ports {
		if p.name == "" || !p.hasPort {
			continue
		}
		proto := "tcp"
		if p.hasProto {
			proto = lowerProto(p.proto)
		}
		ports = append(ports, Port{Name: strings.ToLower(p.name), Proto: proto, Port: uint16(p.port)})
	}
	n := 0
	for _, e := range v.eps {
		n += len(e.addrs)
	}
	r.eps = make([]Endpoint, 0, n)
	shared := &EndpointInfo{Ports: ports} // for every endpoint without hostname
	for _, e := range v.eps {
		info := shared
		if e.host != "" {
			info = &EndpointInfo{Host: strings.ToLower(e.host), Ports: ports}
		}
		for _, a := range e.addrs {
			r.eps = append(r.eps, Endpoint{Addr: a, Ready: e.ready, EndpointInfo: info})
		}
	}
	r.eps = sortedUnique(r.eps)
	return r
}

// sortedUnique sorts endpoints by address, keeping the first of each.
func sortedUnique(eps []Endpoint) []Endpoint {
	sort.SliceStable(eps, func(i, j int) bool { return eps[i].Addr.Less(eps[j].Addr) })
	out := eps[:0]
	for i, e := range eps {
		if i > 0 && e.Addr == out[len(out)-1].Addr {
			continue
		}
		out = append(out, e)
	}
	return out
}

// withEndpoints joins a Service record and its slices (in name order; an
// address in two slices counts once, from the first).
func withEndpoints(rec *Service, slices []*sliceRecord) *Service {
	if rec.ExternalName != "" || len(slices) == 0 {
		return rec // nothing to add: the record itself serves (never changed)
	}
	s := *rec
	sort.Slice(slices, func(i, j int) bool { return slices[i].name < slices[j].name })
	switch {
	case len(slices) == 1:
		s.Endpoints = slices[0].eps // shared: records are never changed
	case len(slices) > 1:
		n := 0
		for _, sl := range slices {
			n += len(sl.eps)
		}
		all := make([]Endpoint, 0, n)
		for _, sl := range slices {
			all = append(all, sl.eps...)
		}
		s.Endpoints = sortedUnique(all)
	}
	if len(s.Endpoints) == 0 {
		s.Endpoints = nil
	}
	return &s
}

// recordStore is a reflector's store of records of one kind, optionally
// grouped (a slice under its Service, a pod under its namespace). Every
// change calls changed with the groups it touched (a record's own key when
// ungrouped); the first Replace closes synced.
type recordStore[R any] struct {
	convert func(obj any) (string, R, bool)
	group   func(r R) string // nil: no groups
	// same reports that a record changes nothing DNS answers (a relist of
	// an unchanged object, a status-only update): it is then not reported.
	same    func(a, b R) bool
	changed func(group string)
	synced  chan struct{}
	// relisted, when set, hears of every full list after the first.
	relisted func(objects int)

	mu     sync.RWMutex
	items  map[string]R
	groups map[string][]string // group → keys (groups are small)
	once   sync.Once
}

func newRecordStore[R any](convert func(any) (string, R, bool), group func(R) string, same func(a, b R) bool, changed func(string)) *recordStore[R] {
	return &recordStore[R]{convert: convert, group: group, same: same, changed: changed, synced: make(chan struct{}),
		items: map[string]R{}, groups: map[string][]string{}}
}

// Transformer makes the reflector's staging store hold records, not
// objects; in a relist, an unchanged object becomes the record already held,
// so the staging store costs nothing for it.
func (s *recordStore[R]) Transformer() cache.TransformFunc {
	return func(obj any) (any, error) {
		key, r, ok := s.convert(obj)
		if !ok {
			return obj, nil
		}
		if s.same != nil {
			s.mu.RLock()
			old, had := s.items[key]
			s.mu.RUnlock()
			if had && s.same(old, r) {
				return old, nil
			}
		}
		return r, nil
	}
}

func (s *recordStore[R]) Add(obj any) error { return s.Update(obj) }
func (s *recordStore[R]) Resync() error     { return nil }
func (s *recordStore[R]) Update(obj any) error {
	key, r, ok := s.convert(obj)
	if !ok {
		return fmt.Errorf("dns: unexpected %T", obj)
	}
	s.mu.Lock()
	if old, ok := s.items[key]; ok && s.same != nil && s.same(old, r) {
		s.mu.Unlock()
		return nil
	}
	touched := append(s.remove(key), s.put(key, r))
	s.mu.Unlock()
	s.notify(touched)
	return nil
}

func (s *recordStore[R]) Delete(obj any) error {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	key, _, ok := s.convert(obj)
	if !ok {
		return fmt.Errorf("dns: unexpected %T", obj)
	}
	s.mu.Lock()
	touched := s.remove(key)
	s.mu.Unlock()
	s.notify(touched)
	return nil
}

// Replace swaps in a full list (a relist); the groups of everything that
// went or came are reported, each once.
func (s *recordStore[R]) Replace(list []any, _ string) error {
	next := make(map[string]R, len(list))
	for _, obj := range list {
		if key, r, ok := s.convert(obj); ok {
			next[key] = r
		}
	}
	touched := map[string]bool{}
	s.mu.Lock()
	if len(s.items) == 0 {
		s.items = make(map[string]R, len(next)) // the first list: no growing
	}
	for key := range s.items {
		if _, ok := next[key]; !ok {
			for _, g := range s.remove(key) {
				touched[g] = true
			}
		}
	}
	for key, r := range next {
		if old, ok := s.items[key]; ok && s.same != nil && s.same(old, r) {
			continue // unchanged: keep the record we have
		}
		for _, g := range s.remove(key) {
			touched[g] = true
		}
		touched[s.put(key, r)] = true
	}
	s.mu.Unlock()
	for g := range touched {
		s.changed(g)
	}
	// Synced only after the changes are reported: whoever waits for it may
	// start counting changes, and these are in what it will read.
	first := false
	s.once.Do(func() { close(s.synced); first = true })
	if !first && s.relisted != nil {
		s.relisted(len(next))
	}
	return nil
}

// put stores a record (its key must be absent) and returns its group.
func (s *recordStore[R]) put(key string, r R) string {
	s.items[key] = r
	if s.group == nil {
		return key
	}
	g := s.group(r)
	s.groups[g] = append(s.groups[g], key)
	return g
}

// remove drops a record and returns its group (none when it was absent).
func (s *recordStore[R]) remove(key string) []string {
	old, ok := s.items[key]
	if !ok {
		return nil
	}
	delete(s.items, key)
	if s.group == nil {
		return []string{key}
	}
	g := s.group(old)
	keys := slices.DeleteFunc(s.groups[g], func(k string) bool { return k == key })
	if len(keys) == 0 {
		delete(s.groups, g)
	} else {
		s.groups[g] = keys
	}
	return []string{g}
}

func (s *recordStore[R]) notify(groups []string) {
	for i, g := range groups {
		if i == 0 || g != groups[0] {
			s.changed(g)
		}
	}
}

// get returns one record by key.
func (s *recordStore[R]) get(key string) (R, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.items[key]
	return r, ok
}

// inGroup lists the records of one group.
func (s *recordStore[R]) inGroup(g string) []R {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]R, 0, len(s.groups[g]))
	for _, k := range s.groups[g] {
		out = append(out, s.items[k])
	}
	return out
}

// each calls f for every record, under the read lock.
func (s *recordStore[R]) each(f func(key string, r R)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for k, r := range s.items {
		f(k, r)
	}
}

// Equality of records: what DNS answers from, nothing else.

func sameService(a, b *svcRecord) bool {
	x, y := a.svc, b.svc
	return x.Name == y.Name && x.Namespace == y.Namespace && x.Headless == y.Headless && x.ExternalName == y.ExternalName &&
		slices.Equal(x.ClusterIPs, y.ClusterIPs) && slices.Equal(x.Ports, y.Ports)
}

func sameSlice(a, b *sliceRecord) bool {
	return a.ns == b.ns && a.name == b.name && a.service == b.service && a.trigger.Equal(b.trigger) &&
		slices.EqualFunc(a.eps, b.eps, func(x, y Endpoint) bool {
			return x.Addr == y.Addr && x.Host == y.Host && x.Ready == y.Ready && slices.Equal(x.Ports, y.Ports)
		})
}

func sameName(a, b *nameRecord) bool { return a.name == b.name }

func samePod(a, b *podRecord) bool {
	return a.ns == b.ns && a.name == b.name && slices.Equal(a.ips, b.ips)
}
