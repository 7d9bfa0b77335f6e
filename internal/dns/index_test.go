package dns

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// benchServices is the issue-5 fixture as records: half ClusterIP, half
// headless with 10 endpoints.
func benchServices(n int) map[string]*Service {
	all := map[string]*Service{}
	for i := 0; i < n; i++ {
		s := &Service{Name: fmt.Sprintf("svc-%d", i), Namespace: fmt.Sprintf("ns-%d", i%100)}
		if i%2 == 0 {
			s.ClusterIPs = []netip.Addr{netip.AddrFrom4([4]byte{10, 96, byte(i >> 8), byte(i)})}
		} else {
			s.Headless = true
			info := &EndpointInfo{}
			for e := 0; e < 10; e++ {
				s.Endpoints = append(s.Endpoints, Endpoint{Addr: netip.AddrFrom4([4]byte{10, 128, byte(i / 25), byte((i%25)*10 + e + 1)}), Ready: true, EndpointInfo: info})
			}
		}
		all[s.Namespace+"/"+s.Name] = s
	}
	return all
}

// BenchmarkWithServices is one slice change at 10,000 Services: what a
// change costs between the watch and the next answer.
func BenchmarkWithServices(b *testing.B) {
	all := benchServices(10000)
	snap := build(all)
	old := all["ns-1/svc-1"]
	b.ReportAllocs()
	k := 0
	for b.Loop() {
		s := *old
		info := &EndpointInfo{}
		s.Endpoints = nil
		for e := 0; e < 10; e++ {
			s.Endpoints = append(s.Endpoints, Endpoint{Addr: netip.AddrFrom4([4]byte{10, byte(129 + k%60), 0, byte(10 + e + 1)}), Ready: true, EndpointInfo: info})
		}
		k++
		snap = snap.WithServices(map[string]*Service{"ns-1/svc-1": &s}, 1)
	}
}

// Snapshots changed a batch at a time answer every PTR and Service lookup
// as one built from scratch from the same Services (addresses drawn from a
// small pool, so they are often shared).
func TestWithServicesMatchesBuild(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	addr := func() netip.Addr { return netip.AddrFrom4([4]byte{10, 0, byte(rnd.IntN(4)), byte(rnd.IntN(200))}) }
	newService := func(key string) *Service {
		ns, name, _ := strings.Cut(key, "/")
		s := &Service{Name: name, Namespace: ns}
		if rnd.IntN(2) == 0 {
			s.ClusterIPs = []netip.Addr{addr()}
		} else {
			s.Headless = true
			shared := &EndpointInfo{}
			for range rnd.IntN(6) {
				info := shared
				if rnd.IntN(4) == 0 {
					info = &EndpointInfo{Host: fmt.Sprintf("h%d", rnd.IntN(3))}
				}
				s.Endpoints = append(s.Endpoints, Endpoint{Addr: addr(), Ready: rnd.IntN(5) > 0, EndpointInfo: info})
			}
		}
		return s
	}
	cur := map[string]*Service{}
	for i := range 300 {
		key := fmt.Sprintf("ns-%d/svc-%d", i%7, i)
		cur[key] = newService(key)
	}
	snap := build(maps.Clone(cur))
	for step := range 200 {
		changes := map[string]*Service{}
		for range 1 + rnd.IntN(5) {
			key := fmt.Sprintf("ns-%d/svc-%d", rnd.IntN(7), rnd.IntN(400))
			if rnd.IntN(3) == 0 {
				changes[key] = nil
				delete(cur, key)
			} else {
				changes[key] = newService(key)
				cur[key] = changes[key]
			}
		}
		snap = snap.WithServices(changes, uint32(step))
		want := build(maps.Clone(cur))
		if snap.Len() != want.Len() {
			t.Fatalf("step %d: %d services, want %d", step, snap.Len(), want.Len())
		}
		for key, s := range cur {
			if snap.Service(key) != s {
				t.Fatalf("step %d: %s differs", step, key)
			}
		}
		for c := range 4 {
			for d := range 200 {
				a := netip.AddrFrom4([4]byte{10, 0, byte(c), byte(d)})
				if got, w := snap.PTR(a, "cluster.local."), want.PTR(a, "cluster.local."); !slices.Equal(got, w) {
					t.Fatalf("step %d: PTR %s = %v, want %v", step, a, got, w)
				}
			}
		}
	}
}

// BenchmarkBuild is the first full build of the index at 10,000 Services
// (part of the time to first answer).
func BenchmarkBuild(b *testing.B) {
	all := benchServices(10000)
	b.ReportAllocs()
	for b.Loop() {
		build(all)
	}
}
