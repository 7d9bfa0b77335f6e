package dns

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	mdns "github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// canon prints a message with each section's records sorted, so shuffled
// sets compare equal.
func canon(m *mdns.Msg) string {
	sec := func(rrs []mdns.RR) string {
		var out []string
		for _, rr := range rrs {
			out = append(out, rr.String())
		}
		sort.Strings(out)
		return strings.Join(out, "\n")
	}
	opt := ""
	if o := m.IsEdns0(); o != nil {
		opt = fmt.Sprintf("opt %d v%d", o.UDPSize(), o.Version())
	}
	var extra []mdns.RR
	for _, rr := range m.Extra {
		if rr.Header().Rrtype != mdns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	return fmt.Sprintf("id=%d rcode=%d aa=%v tc=%v rd=%v cd=%v q=%v\nAN:\n%s\nNS:\n%s\nAR:\n%s\n%s", m.Id, m.Rcode, m.Authoritative, m.Truncated,
		m.RecursionDesired, m.CheckingDisabled, m.Question, sec(m.Answer), sec(m.Ns), sec(extra), opt)
}

func mixCase(s string, k int) string {
	b := []byte(s)
	for i := range b {
		if (i+k)%3 == 0 && b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 'a' - 'A'
		}
	}
	return string(b)
}

func TestFastReplyMatchesSlowPath(t *testing.T) {
	snap := fixture()
	var eps []ep
	for i := 0; i < 300; i++ {
		eps = append(eps, ep{addr: fmt.Sprintf("10.246.%d.%d", i/250, i%250+1), ready: ptr(true)})
	}
	snap = snap.WithService("ns/many", BuildService(svc("many", "None"), []*discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv4, eps...)}), 9)
	s := testServer(t, snap)
	s.opts.Shuffle = true
	names := []struct {
		n string
		t uint16
	}{
		{"web.ns.svc.cluster.local.", mdns.TypeA}, {"web.ns.svc.cluster.local.", mdns.TypeAAAA}, {"dual.ns.svc.cluster.local.", mdns.TypeAAAA},
		{"db.ns.svc.cluster.local.", mdns.TypeA}, {"db-0.db.ns.svc.cluster.local.", mdns.TypeAAAA}, {"nobody.ns.svc.cluster.local.", mdns.TypeA},
		{"_http._tcp.web.ns.svc.cluster.local.", mdns.TypeSRV}, {"_http._tcp.db.ns.svc.cluster.local.", mdns.TypeSRV},
		{"ext.ns.svc.cluster.local.", mdns.TypeA}, {"ext.ns.svc.cluster.local.", mdns.TypeCNAME}, {"cluster.local.", mdns.TypeSOA},
		{"cluster.local.", mdns.TypeNS}, {"dns-version.cluster.local.", mdns.TypeTXT}, {"nope.ns.svc.cluster.local.", mdns.TypeA},
		{"web.nons.svc.cluster.local.", mdns.TypeMX}, {"10-244-0-7.ns.pod.cluster.local.", mdns.TypeA}, {"20.0.96.10.in-addr.arpa.", mdns.TypePTR},
		{"1.1.1.1.in-addr.arpa.", mdns.TypePTR}, {"example.com.", mdns.TypeA}, {"many.ns.svc.cluster.local.", mdns.TypeA},
	}
	served := 0
	for _, n := range names {
		for k := 0; k < 3; k++ {
			for _, edns := range []bool{false, true} {
				for _, tcp := range []bool{false, true} {
					q := new(mdns.Msg)
					q.SetQuestion(mixCase(n.n, k), n.t)
					q.Id = uint16(1000 + k)
					q.RecursionDesired = k%2 == 0
					q.CheckingDisabled = k == 1
					if edns {
						q.SetEdns0(1232, false)
					}
					slow := s.Reply(q.Copy(), tcp)
					fast := s.FastReply(q.Copy(), tcp)
					if fast == nil {
						continue
					}
					served++
					var got mdns.Msg
					if err := got.Unpack(fast); err != nil {
						t.Fatalf("%s: fast reply does not unpack: %v", n.n, err)
					}
					// Owner names and the question must match exactly (C18); names
					// inside RDATA may take the asker's case on the fast path,
					// which compression points into the question (RFC 4343).
					if strings.ToLower(canon(&got)) != strings.ToLower(canon(slow)) || owners(&got) != owners(slow) {
						t.Fatalf("%s %s edns=%v tcp=%v:\nfast %s\nslow %s", q.Question[0].Name, mdns.TypeToString[n.t], edns, tcp, canon(&got), canon(slow))
					}
				}
			}
		}
	}
	if served < len(names)*6 {
		t.Fatalf("the fast path served only %d of %d", served, len(names)*12)
	}
	// A shuffled set really is shuffled.
	q := new(mdns.Msg)
	q.SetQuestion("db.ns.svc.cluster.local.", mdns.TypeA)
	q.SetEdns0(4096, false)
	first := s.FastReply(q, false)
	differs := false
	for i := 0; i < 30 && !differs; i++ {
		differs = string(s.FastReply(q, false)) != string(first)
	}
	many := new(mdns.Msg)
	many.SetQuestion("many.ns.svc.cluster.local.", mdns.TypeA)
	if b := s.FastReply(many, false); b != nil {
		t.Fatal("an answer over 512 bytes must go to the slow path (TC)")
	}
	if !differs {
		t.Fatal("headless answers never shuffled on the fast path")
	}
}

func owners(m *mdns.Msg) string {
	var out []string
	for _, q := range m.Question {
		out = append(out, q.Name)
	}
	for _, sec := range [][]mdns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range sec {
			out = append(out, rr.Header().Name)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// A cached reply answers only its own question (the cache keys by hash).
func TestWireAnswerAsks(t *testing.T) {
	w := precompute(fixture(), opts, "web.ns.svc.cluster.local.", mdns.TypeA)
	if w == nil {
		t.Fatal("no precomputed reply")
	}
	key := func(name string, qtype uint16) []byte { return append([]byte(name), byte(qtype>>8), byte(qtype)) }
	tests := []struct {
		key  []byte
		want bool
	}{
		{key("web.ns.svc.cluster.local.", mdns.TypeA), true},
		{key("web.ns.svc.cluster.local.", mdns.TypeAAAA), false},
		{key("wex.ns.svc.cluster.local.", mdns.TypeA), false},
		{key("web.ns.svc.cluster.local.x.", mdns.TypeA), false},
		{key("web.ns.svc.cluster.", mdns.TypeA), false},
		{key("webns.svc.cluster.local..", mdns.TypeA), false},
		{[]byte{}, false},
	}
	for _, tc := range tests {
		if got := w.asks(tc.key); got != tc.want {
			t.Errorf("asks(%q) = %v", tc.key, got)
		}
	}
}
