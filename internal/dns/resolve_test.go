package dns

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var opts = Options{Zone: "cluster.local.", TTL: 5, Pods: PodsInsecure}

func ptr[T any](v T) *T { return &v }

func svc(name string, clusterIPs ...string) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Spec: corev1.ServiceSpec{
		ClusterIPs: clusterIPs, Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 8080, Protocol: corev1.ProtocolTCP}}}}
	if len(clusterIPs) > 0 {
		s.Spec.ClusterIP = clusterIPs[0]
	}
	return s
}

type ep struct {
	addr     string
	ready    *bool
	hostname string
}

func slice(family discoveryv1.AddressType, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{AddressType: family, Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080)), Protocol: ptr(corev1.ProtocolTCP)}}}
	for _, e := range eps {
		x := discoveryv1.Endpoint{Addresses: []string{e.addr}, Conditions: discoveryv1.EndpointConditions{Ready: e.ready}}
		if e.hostname != "" {
			x.Hostname = ptr(e.hostname)
		}
		s.Endpoints = append(s.Endpoints, x)
	}
	return s
}

// fixture is one snapshot with every kind of Service the rule book speaks of.
func fixture() *Snapshot {
	snap := EmptySnapshot()
	snap.Synced, snap.Serial = true, 42
	snap.Namespaces["ns"] = true
	snap.Namespaces["empty"] = true
	add := func(s *corev1.Service, slices ...*discoveryv1.EndpointSlice) {
		b := BuildService(s, slices)
		snap = snap.WithService(b.Namespace+"/"+b.Name, b, 42)
	}
	add(svc("web", "10.96.0.20"), slice(discoveryv1.AddressTypeIPv4, ep{addr: "10.244.0.9", ready: ptr(true)}))
	add(svc("dual", "10.96.0.21", "fd00::21"))
	add(svc("v6only", "fd00::22"))
	h := svc("db", "None")
	add(h, slice(discoveryv1.AddressTypeIPv4,
		ep{addr: "10.244.0.1", ready: ptr(true), hostname: "db-0"},
		ep{addr: "10.244.0.2", ready: nil}, // unset counts as ready (C6)
		ep{addr: "10.244.0.3", ready: ptr(false), hostname: "db-2"}),
		slice(discoveryv1.AddressTypeIPv6, ep{addr: "fd00::1", ready: ptr(true), hostname: "db-0"}))
	add(svc("nobody", "None"), slice(discoveryv1.AddressTypeIPv4, ep{addr: "10.244.9.9", ready: ptr(false)}))
	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}}
	add(ext)
	return snap.WithNamespaces(snap.Namespaces, 42)
}

// answers prints the answer section's data, sorted.
func answers(a Answer) string {
	var out []string
	for _, rr := range a.Answer {
		f := strings.Fields(rr.String())
		out = append(out, strings.Join(f[3:], " "))
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func TestRules(t *testing.T) {
	snap := fixture()
	cases := []struct {
		rule, qname string
		qtype       uint16
		rcode       int
		want        string // answers, "" for none
		soa         bool   // the SOA must be in the authority section
	}{
		{"S4 dns-version TXT", "dns-version.cluster.local.", mdns.TypeTXT, 0, `TXT "1.1.0"`, false},
		{"C23 dns-version other type is NODATA", "dns-version.cluster.local.", mdns.TypeA, 0, "", true},
		{"S5 ClusterIP A", "web.ns.svc.cluster.local.", mdns.TypeA, 0, "A 10.96.0.20", false},
		{"S5 ClusterIP AAAA on a v4 service is NODATA", "web.ns.svc.cluster.local.", mdns.TypeAAAA, 0, "", true},
		{"S6 dual-stack A", "dual.ns.svc.cluster.local.", mdns.TypeA, 0, "A 10.96.0.21", false},
		{"S6 dual-stack AAAA", "dual.ns.svc.cluster.local.", mdns.TypeAAAA, 0, "AAAA fd00::21", false},
		{"S6 IPv6-only AAAA", "v6only.ns.svc.cluster.local.", mdns.TypeAAAA, 0, "AAAA fd00::22", false},
		{"C21 ClusterIP without endpoints still answers", "dual.ns.svc.cluster.local.", mdns.TypeA, 0, "A 10.96.0.21", false},
		{"S7 SRV named port", "_http._tcp.web.ns.svc.cluster.local.", mdns.TypeSRV, 0, "SRV 0 100 80 web.ns.svc.cluster.local.", false},
		{"C12 SRV wrong protocol", "_http._udp.web.ns.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeNameError, "", true},
		{"C12 SRV unknown port", "_nope._tcp.web.ns.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeNameError, "", true},
		{"C9 SRV on the bare ClusterIP name", "web.ns.svc.cluster.local.", mdns.TypeSRV, 0, "SRV 0 100 80 web.ns.svc.cluster.local.", false},
		{"S10 headless A: ready endpoints, unset counts as ready (C6)", "db.ns.svc.cluster.local.", mdns.TypeA, 0, "A 10.244.0.1; A 10.244.0.2", false},
		{"S10 headless AAAA", "db.ns.svc.cluster.local.", mdns.TypeAAAA, 0, "AAAA fd00::1", false},
		{"S11 C20 headless without ready endpoints is NXDOMAIN", "nobody.ns.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "", true},
		{"S12 endpoint hostname A", "db-0.db.ns.svc.cluster.local.", mdns.TypeA, 0, "A 10.244.0.1", false},
		{"S12 endpoint hostname AAAA", "db-0.db.ns.svc.cluster.local.", mdns.TypeAAAA, 0, "AAAA fd00::1", false},
		{"C7 dashed name of an endpoint without hostname", "10-244-0-2.db.ns.svc.cluster.local.", mdns.TypeA, 0, "A 10.244.0.2", false},
		{"C7 a hostname endpoint has no dashed name", "10-244-0-1.db.ns.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "", true},
		{"S12 not-ready endpoint has no name", "db-2.db.ns.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "", true},
		{"C8 endpoint name of a ClusterIP service", "10-244-0-9.web.ns.svc.cluster.local.", mdns.TypeA, 0, "A 10.244.0.9", false},
		{"S13 C10 headless SRV per endpoint, slice port", "_http._tcp.db.ns.svc.cluster.local.", mdns.TypeSRV, 0,
			"SRV 0 50 8080 10-244-0-2.db.ns.svc.cluster.local.; SRV 0 50 8080 db-0.db.ns.svc.cluster.local.", false},
		{"S15 C14 ExternalName CNAME for A", "ext.ns.svc.cluster.local.", mdns.TypeA, 0, "CNAME example.com.", false},
		{"S15 ExternalName CNAME query", "ext.ns.svc.cluster.local.", mdns.TypeCNAME, 0, "CNAME example.com.", false},
		{"C14 name below an ExternalName is NXDOMAIN", "x.ext.ns.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "", true},
		{"C12 SRV under ExternalName is NXDOMAIN", "_http._tcp.ext.ns.svc.cluster.local.", mdns.TypeSRV, mdns.RcodeNameError, "", true},
		{"C12 bare SRV on ExternalName is NODATA", "ext.ns.svc.cluster.local.", mdns.TypeSRV, 0, "", true},
		{"C3 apex SOA", "cluster.local.", mdns.TypeSOA, 0, "SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5", false},
		{"C3 apex NS", "cluster.local.", mdns.TypeNS, 0, "NS ns.dns.cluster.local.", false},
		{"C3 apex A is NODATA", "cluster.local.", mdns.TypeA, 0, "", true},
		{"C4 svc.zone is NODATA", "svc.cluster.local.", mdns.TypeA, 0, "", true},
		{"C4 namespace name exists", "empty.svc.cluster.local.", mdns.TypeA, 0, "", true},
		{"C4 unknown top label", "foo.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "", true},
		{"C4 too long a name", "a.b._c._d.web.ns.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "", true},
		{"C5 unknown service", "nope.ns.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "", true},
		{"C5 unknown namespace", "web.nons.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "", true},
		{"C16 pod A", "10-244-0-7.ns.pod.cluster.local.", mdns.TypeA, 0, "A 10.244.0.7", false},
		{"C16 pod AAAA, dashed IPv6", "fd00--7.ns.pod.cluster.local.", mdns.TypeAAAA, 0, "AAAA fd00::7", false},
		{"C16 pod in a missing namespace", "10-244-0-7.nons.pod.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "", true},
		{"C16 not an address", "web.ns.pod.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "", true},
		{"C17 wildcard is just a name", "*.ns.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "", true},
		{"C19 MX on a service is NODATA", "web.ns.svc.cluster.local.", mdns.TypeMX, 0, "", true},
		{"C19 CNAME on a ClusterIP name is NODATA", "web.ns.svc.cluster.local.", mdns.TypeCNAME, 0, "", true},
		{"S9 PTR of a ClusterIP", "20.0.96.10.in-addr.arpa.", mdns.TypePTR, 0, "PTR web.ns.svc.cluster.local.", false},
		{"S9 PTR of an IPv6 ClusterIP", "1.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", mdns.TypePTR, 0, "PTR dual.ns.svc.cluster.local.", false},
		{"S14 PTR of a headless endpoint", "1.0.244.10.in-addr.arpa.", mdns.TypePTR, 0, "PTR db-0.db.ns.svc.cluster.local.", false},
		{"C15 PTR of a ClusterIP service's endpoint", "9.0.244.10.in-addr.arpa.", mdns.TypePTR, 0, "PTR 10-244-0-9.web.ns.svc.cluster.local.", false},
		{"C15 unknown address is NXDOMAIN", "1.1.1.1.in-addr.arpa.", mdns.TypePTR, mdns.RcodeNameError, "", true},
		{"R1 NXDOMAIN for an unknown name", "x.y.ns.svc.cluster.local.", mdns.TypeA, mdns.RcodeNameError, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.rule, func(t *testing.T) {
			a := Resolve(snap, opts, tc.qname, tc.qtype, nil)
			if a.Refused || a.Rcode != tc.rcode {
				t.Fatalf("rcode %d refused %v, want %d", a.Rcode, a.Refused, tc.rcode)
			}
			if got := answers(a); got != tc.want {
				t.Fatalf("answers %q, want %q", got, tc.want)
			}
			hasSOA := len(a.Ns) == 1 && a.Ns[0].Header().Rrtype == mdns.TypeSOA
			if hasSOA != tc.soa {
				t.Fatalf("authority %v, want SOA %v", a.Ns, tc.soa)
			}
			for _, rr := range a.Answer {
				if rr.Header().Ttl != 5 && rr.Header().Rrtype != mdns.TypeTXT {
					t.Fatalf("TTL %d, want 5 (C1)", rr.Header().Ttl)
				}
			}
		})
	}
}

func TestC18CaseIsEchoed(t *testing.T) {
	a := Resolve(fixture(), opts, "WeB.Ns.SVC.Cluster.Local.", mdns.TypeA, nil)
	if len(a.Answer) != 1 || a.Answer[0].Header().Name != "WeB.Ns.SVC.Cluster.Local." {
		t.Fatalf("answer %v", a.Answer)
	}
	n := Resolve(fixture(), opts, "Nope.Ns.SVC.Cluster.Local.", mdns.TypeA, nil)
	if n.Ns[0].Header().Name != "Cluster.Local." {
		t.Fatalf("SOA owner %q, want the zone as asked", n.Ns[0].Header().Name)
	}
}

func TestC11SRVAdditionalSection(t *testing.T) {
	a := Resolve(fixture(), opts, "_http._tcp.db.ns.svc.cluster.local.", mdns.TypeSRV, nil)
	if len(a.Extra) != 3 { // db-0 has an IPv4 and an IPv6 address (C10), 10-244-0-2 one
		t.Fatalf("extra %v", a.Extra)
	}
}

func TestC22NotSyncedIsServfail(t *testing.T) {
	a := Resolve(EmptySnapshot(), opts, "web.ns.svc.cluster.local.", mdns.TypeA, nil)
	if a.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("rcode %d", a.Rcode)
	}
}

func TestOutsideZonesIsRefused(t *testing.T) {
	if a := Resolve(fixture(), opts, "example.com.", mdns.TypeA, nil); !a.Refused {
		t.Fatalf("%+v", a)
	}
}

func TestShuffle(t *testing.T) {
	snap := EmptySnapshot()
	snap.Synced = true
	snap.Namespaces["ns"] = true
	var eps []ep
	for i := 1; i <= 20; i++ {
		eps = append(eps, ep{addr: fmt.Sprintf("10.244.1.%d", i), ready: ptr(true)})
	}
	b := BuildService(svc("big", "None"), []*discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv4, eps...)})
	snap = snap.WithService("ns/big", b, 1)
	o := opts
	o.Shuffle = true
	rnd := rand.New(rand.NewPCG(1, 2))
	first := Resolve(snap, o, "big.ns.svc.cluster.local.", mdns.TypeA, rnd).Answer[0].String()
	differs := false
	for i := 0; i < 20 && !differs; i++ {
		differs = Resolve(snap, o, "big.ns.svc.cluster.local.", mdns.TypeA, rnd).Answer[0].String() != first
	}
	if !differs {
		t.Fatal("answers are never shuffled")
	}
	if got := answers(Resolve(snap, o, "big.ns.svc.cluster.local.", mdns.TypeA, rnd)); strings.Count(got, "A 10.244") != 20 {
		t.Fatal("shuffle lost records")
	}
}

func TestSnapshotUpdatesPTR(t *testing.T) {
	snap := fixture()
	// Removing the service removes its reverse names; others stay.
	snap = snap.WithService("ns/web", nil, 43)
	if len(snap.PTR(netip.MustParseAddr("10.96.0.20"), opts.Zone)) != 0 || len(snap.PTR(netip.MustParseAddr("10.244.0.1"), opts.Zone)) != 1 {
		t.Fatal("PTR after removal")
	}
}

func TestR6InZoneCNAMEIsFollowed(t *testing.T) {
	snap := fixture()
	alias := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "alias", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "web.ns.svc.cluster.local"}}
	b := BuildService(alias, nil)
	snap = snap.WithService("ns/alias", b, 1)
	a := Resolve(snap, opts, "alias.ns.svc.cluster.local.", mdns.TypeA, nil)
	if len(a.Answer) != 2 || a.Answer[0].Header().Rrtype != mdns.TypeCNAME || a.Answer[1].(*mdns.A).A.String() != "10.96.0.20" {
		t.Fatalf("chase: %v", a.Answer)
	}
	// A target that does not exist: the CNAME's NXDOMAIN (RFC 1034 4.3.2).
	gone := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dangling", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "nope.ns.svc.cluster.local"}}
	snap = snap.WithService("ns/dangling", BuildService(gone, nil), 2)
	if a := Resolve(snap, opts, "dangling.ns.svc.cluster.local.", mdns.TypeA, nil); a.Rcode != mdns.RcodeNameError || len(a.Answer) != 1 {
		t.Fatalf("dangling: %d %v", a.Rcode, a.Answer)
	}
	// A loop stops.
	loop := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "loop", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "loop.ns.svc.cluster.local"}}
	snap = snap.WithService("ns/loop", BuildService(loop, nil), 3)
	if a := Resolve(snap, opts, "loop.ns.svc.cluster.local.", mdns.TypeA, nil); len(a.Answer) > 9 {
		t.Fatalf("loop: %d records", len(a.Answer))
	}
}

func TestC16PodsVerified(t *testing.T) {
	snap := fixture().WithPods("ns", map[netip.Addr]bool{netip.MustParseAddr("10.244.0.7"): true}, 5)
	o := opts
	o.Pods = PodsVerified
	if a := Resolve(snap, o, "10-244-0-7.ns.pod.cluster.local.", mdns.TypeA, nil); len(a.Answer) != 1 {
		t.Fatalf("a pod's IP: %+v", a)
	}
	if a := Resolve(snap, o, "10-244-0-8.ns.pod.cluster.local.", mdns.TypeA, nil); a.Rcode != mdns.RcodeNameError {
		t.Fatalf("not a pod's IP: %+v", a)
	}
	o.Pods = PodsDisabled
	if a := Resolve(snap, o, "10-244-0-7.ns.pod.cluster.local.", mdns.TypeA, nil); a.Rcode != mdns.RcodeNameError {
		t.Fatalf("disabled: %+v", a)
	}
}

func TestWithServicesBatch(t *testing.T) {
	snap := fixture()
	before := snap.Len()
	b := BuildService(svc("extra", "10.96.0.99"), nil)
	next := snap.WithServices(map[string]*Service{"ns/extra": b, "ns/web": nil}, 7)
	if next.Len() != before || next.Service("ns/extra") == nil || next.Service("ns/web") != nil {
		t.Fatalf("batch: %d services", next.Len())
	}
	if len(next.PTR(netip.MustParseAddr("10.96.0.99"), opts.Zone)) != 1 || len(next.PTR(netip.MustParseAddr("10.96.0.20"), opts.Zone)) != 0 {
		t.Fatal("batch PTR")
	}
	// The old snapshot is untouched (readers may hold it).
	if snap.Service("ns/web") == nil || snap.Service("ns/extra") != nil || len(snap.PTR(netip.MustParseAddr("10.96.0.20"), opts.Zone)) != 1 {
		t.Fatal("the published snapshot changed")
	}
}
