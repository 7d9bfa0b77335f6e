package dns

import (
	"net/netip"
	"sort"
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

// Endpoint is one address of a Service, as DNS needs it.
type Endpoint struct {
	Addr netip.Addr
	// Host is the endpoint's DNS label: its hostname, or the dashed address.
	Host  string
	Ready bool
	Ports []Port
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
	// ptr maps an address to the names that own it, sharded by address.
	ptr [shards]map[netip.Addr][]string
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
		s.ptr[i] = map[netip.Addr][]string{}
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

func addrShard(a netip.Addr) int {
	b := a.As16()
	return int(b[15]^b[14]*31^b[13]*7) % shards
}

// Service returns a Service by "namespace/name" (lower case).
func (snap *Snapshot) Service(key string) *Service { return snap.services[keyShard(key)][key] }

// PTR returns the names that own an address.
func (snap *Snapshot) PTR(a netip.Addr) []string { return snap.ptr[addrShard(a)][a] }

// Len is the number of Services.
func (snap *Snapshot) Len() int { return snap.count }

// add puts a Service into a snapshot being built (not yet published).
func (snap *Snapshot) add(key string, s *Service, zone string) {
	if snap.services[keyShard(key)][key] == nil {
		snap.count++
	}
	snap.services[keyShard(key)][key] = s
	for a, name := range s.ptrNames(zone) {
		sh := addrShard(a)
		snap.ptr[sh][a] = append(snap.ptr[sh][a], name)
	}
}

// DashedName is CoreDNS's endpoint label for an address without hostname:
// 10.244.0.7 → 10-244-0-7; fd00::1 → fd00--1 (a trailing - gets a 0).
func DashedName(a netip.Addr) string {
	s := a.String()
	if a.Is4() {
		return strings.ReplaceAll(s, ".", "-")
	}
	s = strings.ReplaceAll(s, ":", "-")
	if strings.HasSuffix(s, "-") {
		s += "0"
	}
	if strings.HasPrefix(s, "-") {
		s = "0" + s
	}
	return s
}

// BuildService turns a Service and its EndpointSlices into what DNS serves.
// Readiness follows the slices (CoreDNS C6): an unset ready counts as ready.
func BuildService(svc *corev1.Service, slices []*discoveryv1.EndpointSlice) *Service {
	s := &Service{Name: strings.ToLower(svc.Name), Namespace: strings.ToLower(svc.Namespace)}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		s.ExternalName = strings.ToLower(strings.TrimSuffix(svc.Spec.ExternalName, ".")) + "."
		return s
	}
	s.Headless = svc.Spec.ClusterIP == corev1.ClusterIPNone
	for _, ip := range svc.Spec.ClusterIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			s.ClusterIPs = append(s.ClusterIPs, a)
		}
	}
	if len(s.ClusterIPs) == 0 && !s.Headless {
		if a, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil {
			s.ClusterIPs = append(s.ClusterIPs, a)
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.Name == "" {
			continue // unnamed ports get no SRV (S7)
		}
		s.Ports = append(s.Ports, Port{Name: strings.ToLower(p.Name), Proto: strings.ToLower(string(p.Protocol)), Port: uint16(p.Port)})
	}
	seen := map[netip.Addr]bool{}
	for _, sl := range slices {
		if sl.AddressType != discoveryv1.AddressTypeIPv4 && sl.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		var ports []Port
		for _, p := range sl.Ports {
			if p.Name == nil || *p.Name == "" || p.Port == nil {
				continue
			}
			proto := "tcp"
			if p.Protocol != nil {
				proto = strings.ToLower(string(*p.Protocol))
			}
			ports = append(ports, Port{Name: strings.ToLower(*p.Name), Proto: proto, Port: uint16(*p.Port)})
		}
		for _, e := range sl.Endpoints {
			ready := e.Conditions.Ready == nil || *e.Conditions.Ready
			for _, addr := range e.Addresses {
				a, err := netip.ParseAddr(addr)
				if err != nil || seen[a] {
					continue
				}
				seen[a] = true
				host := DashedName(a)
				if e.Hostname != nil && *e.Hostname != "" {
					host = strings.ToLower(*e.Hostname)
				}
				s.Endpoints = append(s.Endpoints, Endpoint{Addr: a, Host: host, Ready: ready, Ports: ports})
			}
		}
	}
	sort.Slice(s.Endpoints, func(i, j int) bool { return s.Endpoints[i].Addr.Less(s.Endpoints[j].Addr) })
	return s
}

// FQDN of a Service in a zone (zone ends with a dot).
func (s *Service) FQDN(zone string) string { return s.Name + "." + s.Namespace + ".svc." + zone }

// ptrNames lists the PTR entries a Service contributes: its ClusterIPs
// point to it (S9), its ready endpoints to hostname.svc.ns.svc.zone (S14, C15).
func (s *Service) ptrNames(zone string) map[netip.Addr]string {
	out := map[netip.Addr]string{}
	for _, ip := range s.ClusterIPs {
		out[ip] = s.FQDN(zone)
	}
	for _, e := range s.Endpoints {
		if e.Ready {
			if _, isClusterIP := out[e.Addr]; !isClusterIP {
				out[e.Addr] = e.Host + "." + s.FQDN(zone)
			}
		}
	}
	return out
}

// WithService returns a new snapshot with one Service replaced (nil removes
// it). The maps are copied; the Service entries are shared.
func (snap *Snapshot) WithService(key string, s *Service, zone string, serial uint32) *Snapshot {
	return snap.WithServices(map[string]*Service{key: s}, zone, serial)
}

// WithServices returns a new snapshot with several Services replaced (a nil
// value removes one). Only the shards the changes touch are copied; the rest,
// and the Service entries, are shared with the old snapshot.
func (snap *Snapshot) WithServices(changes map[string]*Service, zone string, serial uint32) *Snapshot {
	out := *snap
	out.Serial = serial
	out.wire = &wireCache{}
	copiedSvc := map[int]bool{}
	copiedPTR := map[int]bool{}
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
	ptrShard := func(a netip.Addr) map[netip.Addr][]string {
		i := addrShard(a)
		if !copiedPTR[i] {
			m := make(map[netip.Addr][]string, len(out.ptr[i])+1)
			for k, v := range out.ptr[i] {
				m[k] = v
			}
			out.ptr[i], copiedPTR[i] = m, true
		}
		return out.ptr[i]
	}
	for key, s := range changes {
		m := svcShard(key)
		if old := m[key]; old != nil {
			for a, name := range old.ptrNames(zone) {
				p := ptrShard(a)
				p[a] = without(p[a], name)
				if len(p[a]) == 0 {
					delete(p, a)
				}
			}
			delete(m, key)
			out.count--
		}
		if s != nil {
			m[key] = s
			out.count++
			for a, name := range s.ptrNames(zone) {
				p := ptrShard(a)
				p[a] = append(append([]string(nil), p[a]...), name)
				sort.Strings(p[a])
			}
		}
	}
	return &out
}

func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
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
