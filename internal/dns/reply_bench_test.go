package dns

import (
	"fmt"
	"testing"

	mdns "github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// BenchmarkReply is the answer path for the issue-5 query mix on a
// 10,000-Service snapshot, without the network.
func BenchmarkReply(b *testing.B) {
	snap := EmptySnapshot()
	snap.Synced = true
	svcs := map[string]*Service{}
	var names []*mdns.Msg
	for i := 0; i < 10000; i++ {
		ns := fmt.Sprintf("ns-%d", i%100)
		snap.Namespaces[ns] = true
		name := fmt.Sprintf("svc-%d", i)
		var s *Service
		if i%2 == 0 {
			s = BuildService(svc(name, fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)), nil)
		} else {
			var eps []ep
			for e := 0; e < 10; e++ {
				eps = append(eps, ep{addr: fmt.Sprintf("10.%d.%d.%d", 128+i/65000, (i/25)%256, (i%25)*10+e+1), ready: ptr(true)})
			}
			s = BuildService(svc(name, "None"), []*discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv4, eps...)})
		}
		s.Namespace = ns
		svcs[ns+"/"+name] = s
		fqdn := name + "." + ns + ".svc.cluster.local."
		for _, q := range []struct {
			n string
			t uint16
		}{{fqdn, mdns.TypeA}, {"_http._tcp." + fqdn, mdns.TypeSRV}, {fqdn + ns + ".svc.cluster.local.", mdns.TypeA}} {
			m := new(mdns.Msg)
			m.SetQuestion(q.n, q.t)
			names = append(names, m)
		}
	}
	built := build(svcs)
	built.Namespaces, built.Synced = snap.Namespaces, true
	s := testServer(b, built)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := s.Reply(names[i%len(names)], false)
		if _, err := r.Pack(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFastReply is the same mix through the precomputed replies.
func BenchmarkFastReply(b *testing.B) {
	snap := EmptySnapshot()
	snap.Synced = true
	svcs := map[string]*Service{}
	var names []*mdns.Msg
	for i := 0; i < 10000; i++ {
		ns := fmt.Sprintf("ns-%d", i%100)
		snap.Namespaces[ns] = true
		name := fmt.Sprintf("svc-%d", i)
		s := BuildService(svc(name, fmt.Sprintf("10.96.%d.%d", i/250, i%250+1)), nil)
		s.Namespace = ns
		svcs[ns+"/"+name] = s
		fqdn := name + "." + ns + ".svc.cluster.local."
		for _, q := range []string{fqdn, fqdn + ns + ".svc.cluster.local."} {
			m := new(mdns.Msg)
			m.SetQuestion(q, mdns.TypeA)
			names = append(names, m)
		}
	}
	built := build(svcs)
	built.Namespaces, built.Synced = snap.Namespaces, true
	s := testServer(b, built)
	for _, q := range names {
		s.FastReply(q, false) // warm
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s.FastReply(names[i%len(names)], false) == nil {
			b.Fatal("slow path")
		}
	}
}
