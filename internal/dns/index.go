package dns

import (
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Port is a named Service or endpoint port.
type Port struct {
	Name  string // lower case
	Proto string // lower case: tcp, udp, sctp
	Port  uint16
}

// Endpoint is one address of a Service, as DNS needs it (40 bytes: a
// cluster has many).
type Endpoint struct {
	Addr  netip.Addr
	Ready bool
	// EndpointInfo is shared by the endpoints of a slice that have no
	// hostname; never nil.
	*EndpointInfo
}

// EndpointInfo is what an endpoint has beyond its address.
type EndpointInfo struct {
	// Host is the endpoint's hostname (lower case); without one its DNS
	// label is the dashed address, formed when asked (Label).
	Host  string
	Ports []Port // the slice's named ports
}

// Label is the endpoint's DNS label: its hostname, or the dashed address.
func (e *Endpoint) Label() string {
	if e.Host != "" {
		return e.Host
	}
	return DashedName(e.Addr)
}

// HasLabel reports whether label is the endpoint's (without allocating).
func (e *Endpoint) HasLabel(label string) bool {
	if e.Host != "" {
		return e.Host == label
	}
	var buf [64]byte
	return string(appendDashed(buf[:0], e.Addr)) == label
}

// Service is what DNS knows of one Service.
type Service struct {
	Name, Namespace string // lower case
	Headless        bool
	ExternalName    string // lower case, fully qualified, for ExternalName Services
	ClusterIPs      []netip.Addr
	Ports           []Port
	Endpoints       []Endpoint
}

// shards splits the index so a change copies one shard, not the whole map.
const shards = 256

// Snapshot is an immutable view of the cluster for DNS: readers load it with
// one atomic read and never lock.
type Snapshot struct {
	Synced     bool
	Serial     uint32
	Namespaces map[string]bool
	// services by "namespace/name" (lower case), sharded by key hash.
	services [shards]map[string]*Service
	// ptr lists the owners of addresses in ptrShards shards by address,
	// each sorted by address (a flat array: no map or slice per address),
	// in blocks of ptrBlockSize shards: a change copies the blocks and
	// shards it touches (a few kB), not an array of every shard.
	ptr [ptrShards / ptrBlockSize]*ptrBlock
	// Pods holds the pod IPs of each namespace (only with --pods verified).
	Pods map[string]map[netip.Addr]bool
	// count of Services.
	count int
	// wire holds replies precomputed from this snapshot.
	wire *wireCache
}

// EmptySnapshot is the state before the first sync.
func EmptySnapshot() *Snapshot {
	s := &Snapshot{Namespaces: map[string]bool{}, Pods: map[string]map[netip.Addr]bool{}, wire: &wireCache{}}
	for i := range s.services {
		s.services[i] = map[string]*Service{}
	}
	for i := range s.ptr {
		s.ptr[i] = emptyBlock
	}
	return s
}

func keyShard(key string) int {
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return int(h % shards)
}

// PTR shards: at 10,000 Services (60,000 addresses) about 15 entries each.
const (
	ptrShards    = 4096
	ptrBlockSize = 16
)

type ptrBlock [ptrBlockSize][]ptrEntry

// emptyBlock stands for a block with no entries (shared, never written).
var emptyBlock = new(ptrBlock)

func addrShard(a netip.Addr) int {
	b := a.As16()
	h := uint32(2166136261)
	for _, x := range b[12:] {
		h = (h ^ uint32(x)) * 16777619
	}
	return int(h % ptrShards)
}

// ptrShard is the entries of shard i.
func (snap *Snapshot) ptrShard(i int) []ptrEntry { return snap.ptr[i/ptrBlockSize][i%ptrBlockSize] }

// Service returns a Service by "namespace/name" (lower case).
func (snap *Snapshot) Service(key string) *Service { return snap.services[keyShard(key)][key] }

// ptrRef is an owner of an address: a Service (its ClusterIP; ep nil) or
// one of its endpoints. The name is formed when asked, not stored.
type ptrRef struct {
	svc *Service
	ep  *EndpointInfo
}

func (e ptrEntry) name(zone string) string {
	switch {
	case e.ref.ep == nil:
		return e.ref.svc.FQDN(zone)
	case e.ref.ep.Host == "":
		return DashedName(e.addr) + "." + e.ref.svc.FQDN(zone)
	}
	return e.ref.ep.Host + "." + e.ref.svc.FQDN(zone)
}

// ptrEntry is one owner of one address.
type ptrEntry struct {
	addr netip.Addr
	ref  ptrRef
}

// PTR returns the names that own an address, sorted.
func (snap *Snapshot) PTR(a netip.Addr, zone string) []string {
	sh := snap.ptrShard(addrShard(a))
	i := sort.Search(len(sh), func(i int) bool { return !sh[i].addr.Less(a) })
	var out []string
	for ; i < len(sh) && sh[i].addr == a; i++ {
		out = append(out, sh[i].name(zone))
	}
	sort.Strings(out)
	return out
}

// sortPTR orders a shard's entries by address (the names of one address
// are sorted when asked, so their order here does not matter).
func sortPTR(sh []ptrEntry) {
	slices.SortFunc(sh, func(x, y ptrEntry) int { return x.addr.Compare(y.addr) })
}

// Len is the number of Services.
func (snap *Snapshot) Len() int { return snap.count }

// build makes a snapshot of Services (keyed "namespace/name", lower case).
func build(services map[string]*Service) *Snapshot {
	snap := EmptySnapshot()
	w := ptrWriter{snap: snap}
	// Count each shard first, so each is allocated once at its size
	// (growing 4,096 slices by append was most of a build).
	var ptrCounts [ptrShards]int32
	var svcCounts [shards]int
	for key, s := range services {
		svcCounts[keyShard(key)]++
		s.eachPTR(func(a netip.Addr, _ ptrRef) { ptrCounts[addrShard(a)]++ })
	}
	for i, n := range svcCounts {
		snap.services[i] = make(map[string]*Service, n)
	}
	for i, n := range ptrCounts {
		if n > 0 {
			*w.shard(i) = make([]ptrEntry, 0, n)
		}
	}
	for key, s := range services {
		snap.services[keyShard(key)][key] = s
		snap.count++
		s.eachPTR(func(a netip.Addr, r ptrRef) {
			sh := w.shard(addrShard(a))
			*sh = append(*sh, ptrEntry{a, r})
		})
	}
	for i, n := range ptrCounts {
		if n > 0 {
			sortPTR(*w.shard(i))
		}
	}
	return snap
}

// DashedName is CoreDNS's endpoint label for an address without hostname:
// 10.244.0.7 → 10-244-0-7; fd00::1 → fd00--1 (a trailing - gets a 0).
func DashedName(a netip.Addr) string {
	if a.Is4() {
		var buf [15]byte
		return string(appendDashed(buf[:0], a))
	}
	s := strings.ReplaceAll(a.String(), ":", "-")
	if strings.HasSuffix(s, "-") {
		s += "0"
	}
	if strings.HasPrefix(s, "-") {
		s = "0" + s
	}
	return s
}

// appendDashed appends the dashed name of an address.
func appendDashed(b []byte, a netip.Addr) []byte {
	if !a.Is4() {
		return append(b, DashedName(a)...)
	}
	for i, x := range a.As4() {
		if i > 0 {
			b = append(b, '-')
		}
		b = strconv.AppendUint(b, uint64(x), 10)
	}
	return b
}

// BuildService turns a Service and its EndpointSlices into what DNS serves.
func BuildService(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) *Service {
	recs := make([]*sliceRecord, 0, len(slices))
	for _, sl := range slices {
		recs = append(recs, sliceOf(sl))
	}
	return withEndpoints(serviceOf(svc), recs)
}

// FQDN of a Service in a zone (zone ends with a dot).
func (s *Service) FQDN(zone string) string { return s.Name + "." + s.Namespace + ".svc." + zone }

// eachPTR calls f for each PTR entry a Service contributes: its ClusterIPs
// point to it (S9), its ready endpoints to hostname.svc.ns.svc.zone (S14,
// C15); an address that is also a ClusterIP keeps the Service's name.
func (s *Service) eachPTR(f func(netip.Addr, ptrRef)) {
	for _, ip := range s.ClusterIPs {
		f(ip, ptrRef{svc: s})
	}
	for _, e := range s.Endpoints {
		if e.Ready && !slices.Contains(s.ClusterIPs, e.Addr) {
			f(e.Addr, ptrRef{svc: s, ep: e.EndpointInfo})
		}
	}
}

// WithService returns a new snapshot with one Service replaced (nil removes
// it). The maps are copied; the Service entries are shared.
func (snap *Snapshot) WithService(key string, s *Service, serial uint32) *Snapshot {
	return snap.WithServices(map[string]*Service{key: s}, serial)
}

// WithServices returns a new snapshot with several Services replaced (a nil
// value removes one). Only the shards the changes touch are copied; the rest,
// and the Service entries, are shared with the old snapshot.
func (snap *Snapshot) WithServices(changes map[string]*Service, serial uint32) *Snapshot {
	out := *snap
	out.Serial = serial
	out.wire = &wireCache{}
	copiedSvc := map[int]bool{}
	svcShard := func(key string) map[string]*Service {
		i := keyShard(key)
		if !copiedSvc[i] {
			m := make(map[string]*Service, len(out.services[i])+1)
			for k, v := range out.services[i] {
				m[k] = v
			}
			out.services[i], copiedSvc[i] = m, true
		}
		return out.services[i]
	}
	// The PTR entries that go and come, by shard; each touched shard is
	// then rebuilt once.
	gone := map[int]map[*Service]bool{}
	added := map[int][]ptrEntry{}
	for key, s := range changes {
		m := svcShard(key)
		if old := m[key]; old != nil {
			old.eachPTR(func(a netip.Addr, _ ptrRef) {
				i := addrShard(a)
				if gone[i] == nil {
					gone[i] = map[*Service]bool{}
				}
				gone[i][old] = true
			})
			delete(m, key)
			out.count--
		}
		if s != nil {
			m[key] = s
			out.count++
			s.eachPTR(func(a netip.Addr, r ptrRef) {
				i := addrShard(a)
				added[i] = append(added[i], ptrEntry{a, r})
			})
		}
	}
	touched := make(map[int]bool, len(gone)+len(added))
	for i := range gone {
		touched[i] = true
	}
	for i := range added {
		touched[i] = true
	}
	w := ptrWriter{snap: &out}
	for i := range touched {
		old := out.ptrShard(i)
		sh := make([]ptrEntry, 0, len(old)+len(added[i]))
		for _, e := range old {
			if !gone[i][e.ref.svc] {
				sh = append(sh, e)
			}
		}
		sh = append(sh, added[i]...)
		sortPTR(sh)
		*w.shard(i) = slices.Clip(sh)
	}
	return &out
}

// ptrWriter writes a snapshot's PTR shards, copying each block on its
// first write (blocks are shared with the snapshot it was copied from).
type ptrWriter struct {
	snap *Snapshot
	own  [ptrShards / ptrBlockSize]bool
}

func (w *ptrWriter) shard(i int) *[]ptrEntry {
	b := i / ptrBlockSize
	if !w.own[b] {
		c := *w.snap.ptr[b]
		w.snap.ptr[b], w.own[b] = &c, true
	}
	return &w.snap.ptr[b][i%ptrBlockSize]
}

// WithNamespaces returns a new snapshot with another namespace set.
func (snap *Snapshot) WithNamespaces(ns map[string]bool, serial uint32) *Snapshot {
	out := *snap
	out.Namespaces, out.Serial = ns, serial
	out.wire = &wireCache{}
	return &out
}

// WithPods returns a new snapshot with one namespace's pod IPs replaced.
func (snap *Snapshot) WithPods(ns string, ips map[netip.Addr]bool, serial uint32) *Snapshot {
	out := *snap
	out.Serial = serial
	out.wire = &wireCache{}
	out.Pods = make(map[string]map[netip.Addr]bool, len(snap.Pods)+1)
	for k, v := range snap.Pods {
		out.Pods[k] = v
	}
	if len(ips) == 0 {
		delete(out.Pods, ns)
	} else {
		out.Pods[ns] = ips
	}
	return &out
}
