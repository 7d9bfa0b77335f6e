package nslookup

import (
	"net"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/svcnet/svcnet/internal/poddns"
)

// zone answers A and PTR from maps, as the cluster DNS would.
func zone(t *testing.T, a map[string][]string, ptr map[string]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, q *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(q)
		name := q.Question[0].Name
		switch q.Question[0].Qtype {
		case mdns.TypeA:
			for _, ip := range a[name] {
				m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 5}, A: net.ParseIP(ip)})
			}
			if _, ok := a[name]; !ok {
				m.Rcode = mdns.RcodeNameError
			}
		case mdns.TypePTR:
			if p, ok := ptr[name]; ok {
				m.Answer = append(m.Answer, &mdns.PTR{Hdr: mdns.RR_Header{Name: name, Rrtype: mdns.TypePTR, Class: mdns.ClassINET, Ttl: 5}, Ptr: p})
			} else {
				m.Rcode = mdns.RcodeNameError
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestBusybox128Output(t *testing.T) {
	addr := zone(t, map[string][]string{
		"normal-service.default.svc.cluster.local.":   {"10.96.1.136"},
		"headless-service.default.svc.cluster.local.": {"10.244.0.5", "10.244.0.6"},
		"example.com.": {"93.184.216.34"},
	}, map[string]string{
		"10.0.96.10.in-addr.arpa.":  "kube-dns.kube-system.svc.cluster.local.",
		"136.1.96.10.in-addr.arpa.": "normal-service.default.svc.cluster.local.",
		"5.0.244.10.in-addr.arpa.":  "10-244-0-5.headless-service.default.svc.cluster.local.",
		"6.0.244.10.in-addr.arpa.":  "10-244-0-6.headless-service.default.svc.cluster.local.",
	})
	rc := poddns.Parse("nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n")
	r := FromResolvConf(rc, "")
	if r.Server != "10.96.0.10:53" || r.Ndots != 5 {
		t.Fatalf("resolver %+v", r)
	}
	// The server's address stays what resolv.conf says; the queries go to the test's zone.
	cases := []struct {
		name, want string
		code       int
	}{
		{"headless-service", "Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local\n\n" +
			"Name:      headless-service\nAddress 1: 10.244.0.5 10-244-0-5.headless-service.default.svc.cluster.local\n" +
			"Address 2: 10.244.0.6 10-244-0-6.headless-service.default.svc.cluster.local\n", 0},
		{"normal-service.default", "Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local\n\n" +
			"Name:      normal-service.default\nAddress 1: 10.96.1.136 normal-service.default.svc.cluster.local\n", 0},
		{"example.com", "Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local\n\n" +
			"Name:      example.com\nAddress 1: 93.184.216.34\n", 0},
		{"nosuch", "Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local\n\n", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rr := r
			rr.Timeout = time.Second
			var out, errs strings.Builder
			// Point the queries at the zone, keep the printed server.
			code := runVia(rr, addr, tc.name, &out, &errs)
			if code != tc.code || out.String() != tc.want {
				t.Fatalf("exit %d, printed:\n%s\nwant exit %d:\n%s\nstderr %s", code, out.String(), tc.code, tc.want, errs.String())
			}
			if tc.code != 0 && errs.String() != "nslookup: can't resolve 'nosuch'\n" {
				t.Fatalf("stderr %q", errs.String())
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	r := Resolver{Searches: []string{"ns.svc.cluster.local", "svc.cluster.local"}, Ndots: 5}
	got := strings.Join(r.candidates("web"), " ")
	if got != "web.ns.svc.cluster.local web.svc.cluster.local web" {
		t.Fatalf("ndots 5: %s", got)
	}
	r.Ndots = 1
	if got := strings.Join(r.candidates("a.b"), " "); got != "a.b a.b.ns.svc.cluster.local a.b.svc.cluster.local" {
		t.Fatalf("ndots 1: %s", got)
	}
	if got := r.candidates("abs.lute."); len(got) != 1 {
		t.Fatalf("absolute: %v", got)
	}
}
