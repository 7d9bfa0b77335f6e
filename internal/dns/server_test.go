package dns

import (
	"fmt"
	"io"
	"log/slog"
	"testing"

	mdns "github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func testServer(t testing.TB, snap *Snapshot) *Server {
	s, err := New(Config{Addr: "127.0.0.1:0"}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	s.snap.Store(snap)
	return s
}

func query(name string, qtype uint16) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	return m
}

func TestReplyWireRules(t *testing.T) {
	s := testServer(t, fixture())
	// R7: authoritative.
	if m := s.Reply(query("web.ns.svc.cluster.local.", mdns.TypeA), false); !m.Authoritative || len(m.Answer) != 1 {
		t.Fatalf("R7: %v", m)
	}
	// R5: OPT echoed only when asked; EDNS version > 0 is BADVERS.
	if m := s.Reply(query("web.ns.svc.cluster.local.", mdns.TypeA), false); m.IsEdns0() != nil {
		t.Fatal("R5: OPT without EDNS in the query")
	}
	q := query("web.ns.svc.cluster.local.", mdns.TypeA)
	q.SetEdns0(1232, false)
	if m := s.Reply(q, false); m.IsEdns0() == nil {
		t.Fatal("R5: OPT not echoed")
	}
	q.IsEdns0().SetVersion(1)
	if m := s.Reply(q, false); m.Rcode != mdns.RcodeBadVers {
		t.Fatalf("R5: rcode %d, want BADVERS", m.Rcode)
	}
	// Bad input: opcode, QDCOUNT, class.
	bad := query("web.ns.svc.cluster.local.", mdns.TypeA)
	bad.Opcode = mdns.OpcodeUpdate
	if m := s.Reply(bad, false); m.Rcode != mdns.RcodeNotImplemented {
		t.Fatalf("opcode: %d", m.Rcode)
	}
	two := query("web.ns.svc.cluster.local.", mdns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	if m := s.Reply(two, false); m.Rcode != mdns.RcodeFormatError {
		t.Fatalf("qdcount: %d", m.Rcode)
	}
	chaos := query("web.ns.svc.cluster.local.", mdns.TypeA)
	chaos.Question[0].Qclass = mdns.ClassCHAOS
	if m := s.Reply(chaos, false); m.Rcode != mdns.RcodeRefused {
		t.Fatalf("class: %d", m.Rcode)
	}
	if m := s.Reply(query("cluster.local.", mdns.TypeAXFR), false); m.Rcode != mdns.RcodeRefused {
		t.Fatalf("AXFR: %d", m.Rcode)
	}
}

func TestR4TruncationAndTCP(t *testing.T) {
	snap := fixture()
	var eps []ep
	for i := 0; i < 2000; i++ {
		eps = append(eps, ep{addr: fmt.Sprintf("10.245.%d.%d", i/250, i%250+1), ready: ptr(true)})
	}
	b := BuildService(svc("huge", "None"), []*discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv4, eps...)})
	s := testServer(t, snap.WithService("ns/huge", b, opts.Zone, 1))
	udp := s.Reply(query("huge.ns.svc.cluster.local.", mdns.TypeA), false)
	if !udp.Truncated || udp.Len() > 512 {
		t.Fatalf("UDP without EDNS: TC %v, %d bytes", udp.Truncated, udp.Len())
	}
	q := query("huge.ns.svc.cluster.local.", mdns.TypeA)
	q.SetEdns0(4096, false)
	if m := s.Reply(q, false); !m.Truncated || m.Len() > 4096 {
		t.Fatalf("UDP with EDNS 4096: TC %v, %d bytes", m.Truncated, m.Len())
	}
	tcp := s.Reply(query("huge.ns.svc.cluster.local.", mdns.TypeA), true)
	if tcp.Truncated || len(tcp.Answer) != 2000 {
		t.Fatalf("TCP: TC %v, %d answers", tcp.Truncated, len(tcp.Answer))
	}
	small := s.Reply(query("web.ns.svc.cluster.local.", mdns.TypeA), false)
	if small.Truncated {
		t.Fatal("a small answer must not be truncated")
	}
}

func FuzzReply(f *testing.F) {
	s := testServer(f, fixture())
	for _, q := range []*mdns.Msg{query("web.ns.svc.cluster.local.", mdns.TypeA), query("_http._tcp.db.ns.svc.cluster.local.", mdns.TypeSRV), query("1.0.244.10.in-addr.arpa.", mdns.TypePTR)} {
		b, _ := q.Pack()
		f.Add(b)
	}
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c, 0, 1, 0, 1}) // a pointer to itself
	f.Fuzz(func(t *testing.T, b []byte) {
		var m mdns.Msg
		if err := m.Unpack(b); err != nil {
			return // the server drops what it cannot parse
		}
		if r := s.Reply(&m, false); r != nil {
			if _, err := r.Pack(); err != nil {
				t.Fatalf("reply does not pack: %v", err)
			}
		}
	})
}

func FuzzResolveName(f *testing.F) {
	snap := fixture()
	f.Add("db-0.db.ns.svc.cluster.local.")
	f.Add("10-244-0-7.ns.pod.cluster.local.")
	f.Add("1.0.244.10.in-addr.arpa.")
	f.Fuzz(func(t *testing.T, name string) {
		if _, ok := mdns.IsDomainName(name); !ok {
			return
		}
		Resolve(snap, opts, name, mdns.TypeA, nil)
		Resolve(snap, opts, name, mdns.TypeSRV, nil)
		Resolve(snap, opts, name, mdns.TypePTR, nil)
	})
}
