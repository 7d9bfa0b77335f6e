package dns

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"

	mdns "github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func testServer(t testing.TB, snap *Snapshot) *Server {
	s, err := New(Config{Addr: "127.0.0.1:0"}, Source{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	s := testServer(t, snap.WithService("ns/huge", b, 1))
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
		if r := s.Reply(m.Copy(), false); r != nil {
			if _, err := r.Pack(); err != nil {
				t.Fatalf("reply does not pack: %v", err)
			}
		}
		if b := s.FastReply(m.Copy(), false); b != nil {
			var got mdns.Msg
			if err := got.Unpack(b); err != nil || got.Id != m.Id || len(b) > 4096 {
				t.Fatalf("fast reply: %v", err)
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

// fakeUpstream answers every A query with 192.0.2.53 on loopback.
func fakeUpstream(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &mdns.Server{PacketConn: pc, Handler: mdns.HandlerFunc(func(w mdns.ResponseWriter, r *mdns.Msg) {
		m := new(mdns.Msg)
		m.SetReply(r)
		if r.Question[0].Qtype == mdns.TypeA {
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: r.Question[0].Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 53)})
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestUpstreamForwardingAndExternalNameChase(t *testing.T) {
	s := testServer(t, fixture())
	s.cfg.Upstreams = []string{fakeUpstream(t)}
	q := query("example.org.", mdns.TypeA)
	q.Id = 4242
	m := s.Reply(q, false)
	if m == nil || m.Id != 4242 || len(m.Answer) != 1 || m.Answer[0].(*mdns.A).A.String() != "192.0.2.53" {
		t.Fatalf("forwarded: %v", m)
	}
	// C14: an ExternalName outside the zone: the CNAME, then the target's records.
	m = s.Reply(query("ext.ns.svc.cluster.local.", mdns.TypeA), false)
	if len(m.Answer) != 2 || m.Answer[0].Header().Rrtype != mdns.TypeCNAME || m.Answer[1].(*mdns.A).A.String() != "192.0.2.53" {
		t.Fatalf("chase: %v", m.Answer)
	}
	// A reverse name no cluster address owns falls through to the upstream.
	if m := s.Reply(query("8.8.8.8.in-addr.arpa.", mdns.TypePTR), false); m.Rcode != mdns.RcodeSuccess {
		t.Fatalf("reverse fallthrough: %v", m)
	}
	if m := s.Reply(query("20.0.96.10.in-addr.arpa.", mdns.TypePTR), false); len(m.Answer) != 1 || m.Answer[0].(*mdns.PTR).Ptr != "web.ns.svc.cluster.local." {
		t.Fatalf("cluster PTR must not fall through: %v", m)
	}
	// Without upstreams: REFUSED, and the CNAME alone.
	s.cfg.Upstreams = nil
	if m := s.Reply(query("example.org.", mdns.TypeA), false); m.Rcode != mdns.RcodeRefused {
		t.Fatalf("no upstream: %d", m.Rcode)
	}
	// An upstream that does not answer: SERVFAIL, not a hang past the timeout.
	dead, _ := net.ListenPacket("udp", "127.0.0.1:0")
	defer dead.Close()
	s.cfg.Upstreams = []string{dead.LocalAddr().String()}
	if m := s.Reply(query("example.org.", mdns.TypeA), false); m.Rcode != mdns.RcodeServerFailure {
		t.Fatalf("dead upstream: %d", m.Rcode)
	}
}

// With port 0, a TCP port already taken makes listen pick another pair.
func TestListenPairsUDPAndTCP(t *testing.T) {
	pc, ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	defer ln.Close()
	if pc.LocalAddr().String() != ln.Addr().String() {
		t.Fatalf("udp %s, tcp %s", pc.LocalAddr(), ln.Addr())
	}
	// A fixed address whose TCP port is taken is an error, not a retry.
	busy, _ := net.Listen("tcp", "127.0.0.1:0")
	defer busy.Close()
	if _, _, err := listen(busy.Addr().String()); err == nil {
		t.Fatal("listened on a taken TCP port")
	}
}
