package dns

import (
	"context"
	"net"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
)

// serveUDP runs the server's UDP workers on a loopback socket.
func serveUDP(t *testing.T, s *Server) *net.UDPConn {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ServeUDP(ctx, pc, 3, s.handleUDP) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeUDP after cancel: %v", err)
		}
		pc.Close()
	})
	c, err := net.DialUDP("udp", nil, pc.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchangeRaw sends bytes and returns the reply, or nil after a short wait.
func exchangeRaw(t *testing.T, c *net.UDPConn, b []byte) []byte {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 65535)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func TestServeUDPAnswersLikeMiekg(t *testing.T) {
	s := testServer(t, fixture())
	c := serveUDP(t, s)
	pack := func(m *mdns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := query("WEB.ns.svc.cluster.local.", mdns.TypeA)
	a.Id = 4242
	srv := query("_http._tcp.db.ns.svc.cluster.local.", mdns.TypeSRV)
	two := query("web.ns.svc.cluster.local.", mdns.TypeA)
	two.Question = append(two.Question, two.Question[0])
	update := query("web.ns.svc.cluster.local.", mdns.TypeA)
	update.Opcode = mdns.OpcodeUpdate
	resp := query("web.ns.svc.cluster.local.", mdns.TypeA)
	resp.Response = true
	tests := []struct {
		name  string
		in    []byte
		rcode int // -1: no reply
		check func(m *mdns.Msg) bool
	}{
		{"fast path keeps id and case", pack(a), mdns.RcodeSuccess, func(m *mdns.Msg) bool {
			return m.Id == 4242 && m.Question[0].Name == "WEB.ns.svc.cluster.local." && len(m.Answer) == 1
		}},
		{"slow path SRV set", pack(srv), mdns.RcodeSuccess, func(m *mdns.Msg) bool { return len(m.Answer) > 0 }},
		{"two questions", pack(two), mdns.RcodeFormatError, nil},
		{"update", pack(update), mdns.RcodeNotImplemented, nil},
		{"a response is ignored", pack(resp), -1, nil},
		{"shorter than a header", []byte{1, 2, 3}, -1, nil},
		{"garbage after a header", append(pack(a)[:12], 0xff, 0xff, 0xff), mdns.RcodeFormatError, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := exchangeRaw(t, c, tc.in)
			if tc.rcode < 0 {
				if b != nil {
					t.Fatalf("got a reply of %d bytes", len(b))
				}
				return
			}
			var m mdns.Msg
			if err := m.Unpack(b); err != nil {
				t.Fatalf("reply: %v", err)
			}
			if m.Rcode != tc.rcode || !m.Response {
				t.Fatalf("rcode %d, want %d:\n%v", m.Rcode, tc.rcode, &m)
			}
			if tc.check != nil && !tc.check(&m) {
				t.Fatalf("unexpected reply:\n%v", &m)
			}
		})
	}
}

func FuzzParseQuery(f *testing.F) {
	s := testServer(f, fixture())
	for _, q := range []*mdns.Msg{query("web.ns.svc.cluster.local.", mdns.TypeA), query("_http._tcp.db.ns.svc.cluster.local.", mdns.TypeSRV)} {
		b, _ := q.Pack()
		f.Add(b)
		q.SetEdns0(1232, false)
		b, _ = q.Pack()
		f.Add(b)
	}
	rnd := s.rnd.Get().(interface{ IntN(int) int })
	f.Fuzz(func(t *testing.T, b []byte) {
		q, key, ok := parseQuery(b, nil)
		if !ok {
			return
		}
		if len(q.name) > 255 || len(key) < 3 {
			t.Fatalf("accepted name %q key %q", q.name, key)
		}
		out, qtype := s.fastReply(s.snap.Load(), b, nil, nil, false, rnd)
		if out == nil {
			return
		}
		var m mdns.Msg
		if err := m.Unpack(out); err != nil || m.Id != q.id || qtype != q.qtype || len(out) > 4096+11 {
			t.Fatalf("fast reply does not unpack or lost the id: %v", err)
		}
	})
}

// TestSlowPathIsBounded: queries waiting on an upstream that never answers
// hold at most MaxSlowQueries goroutines; the rest are REFUSED at once,
// with their IDs, instead of each starting one more goroutine.
func TestSlowPathIsBounded(t *testing.T) {
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	s := testServer(t, fixture())
	s.cfg.Upstreams = []string{dead.LocalAddr().String()}
	s.slow = make(chan struct{}, 2)
	c := serveUDP(t, s)
	for id := uint16(1); id <= 5; id++ {
		q := query("example.org.", mdns.TypeA)
		q.Id = id
		b, err := q.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	refusedIDs := map[uint16]bool{}
	buf := make([]byte, 512)
	_ = c.SetReadDeadline(time.Now().Add(time.Second)) // the upstream timeout is 2 s
	for {
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		m := new(mdns.Msg)
		if err := m.Unpack(buf[:n]); err != nil {
			t.Fatalf("reply does not parse: %v", err)
		}
		if m.Rcode != mdns.RcodeRefused || !m.Response {
			t.Fatalf("reply before the upstream timeout: %v", m)
		}
		refusedIDs[m.Id] = true
	}
	if len(refusedIDs) != 3 {
		t.Fatalf("REFUSED %v; want 3 of the 5 queries (2 wait on the upstream)", refusedIDs)
	}
	var got dto.Metric
	if err := s.m.slowRefused.Write(&got); err != nil {
		t.Fatal(err)
	}
	if got.GetCounter().GetValue() != 3 {
		t.Fatalf("slow_queries_refused_total = %v, want 3", got.GetCounter().GetValue())
	}
}
