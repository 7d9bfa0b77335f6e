package dns

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	mdns "github.com/miekg/dns"
)

// UDPWorker is one of the goroutines reading a socket, with buffers of its
// own, so answering a query from the fast path allocates nothing.
type UDPWorker struct {
	Conn *net.UDPConn
	// Out is the reply buffer; a handler appends to Out[:0].
	Out []byte
	key []byte
	rnd *rand.Rand
}

// ServeUDP answers datagrams on conn until ctx ends. Each of workers
// goroutines reads a query, calls handle, and sends what it returns (nil
// sends nothing). Unlike a goroutine per packet, the goroutines and their
// stacks and buffers live as long as the socket. The socket should be
// bound to one address: replies leave from the address the kernel picks.
func ServeUDP(ctx context.Context, conn *net.UDPConn, workers int, handle func(w *UDPWorker, query []byte, from netip.AddrPort) []byte) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	errc := make(chan error, workers)
	for i := 0; i < workers; i++ {
		w := &UDPWorker{Conn: conn, Out: make([]byte, 0, 4096+64), key: make([]byte, 0, 260),
			rnd: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
		go func() {
			buf := make([]byte, 4096)
			for {
				n, from, err := conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					var ne net.Error
					if ctx.Err() == nil && errors.As(err, &ne) && !ne.Timeout() && !errors.Is(err, net.ErrClosed) {
						continue // e.g. ICMP-driven ECONNREFUSED from an earlier reply
					}
					errc <- err
					return
				}
				if reply := handle(w, buf[:n], from); reply != nil {
					_, _ = conn.WriteToUDPAddrPort(reply, from)
				}
			}
		}()
	}
	var first error
	for i := 0; i < workers; i++ {
		if err := <-errc; first == nil {
			first = err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return first
}

// handleUDP serves a query from the fast path in the worker; anything else
// goes to a goroutine of its own (it may wait on an upstream), at most
// MaxSlowQueries at once: past that the query is REFUSED at once.
func (s *Server) handleUDP(w *UDPWorker, b []byte, from netip.AddrPort) []byte {
	start := time.Now()
	if snap := s.snap.Load(); snap.Synced {
		if out, qtype := s.fastReply(snap, b, w.Out, w.key, false, w.rnd); out != nil {
			w.Out = out[:0]
			s.observeWire(out, qtype, false, start, from.String)
			return out
		}
	}
	select {
	case s.slow <- struct{}{}:
	default:
		s.m.slowRefused.Inc()
		return refused(b, w.Out[:0])
	}
	q := append([]byte(nil), b...)
	go func() {
		defer func() { <-s.slow }()
		s.slowUDP(w.Conn, q, from, start)
	}()
	return nil
}

// refused is a header-only REFUSED reply to query b (nil when b has no
// header or is itself a response), appended to out.
func refused(b, out []byte) []byte {
	if len(b) < 12 || b[2]&0x80 != 0 {
		return nil
	}
	out = append(out, b[0], b[1], 0x80|b[2]&0x79, mdns.RcodeRefused, 0, 0, 0, 0, 0, 0, 0, 0)
	return out
}

// slowUDP answers what the fast path does not, as miekg's server would:
// a header it cannot read gets no reply; a response is ignored; a
// malformed or unsupported request gets FORMERR or NOTIMP.
func (s *Server) slowUDP(conn *net.UDPConn, b []byte, from netip.AddrPort, start time.Time) {
	if len(b) < 12 {
		return
	}
	dh := mdns.Header{Id: binary.BigEndian.Uint16(b), Bits: binary.BigEndian.Uint16(b[2:]), Qdcount: binary.BigEndian.Uint16(b[4:]),
		Ancount: binary.BigEndian.Uint16(b[6:]), Nscount: binary.BigEndian.Uint16(b[8:]), Arcount: binary.BigEndian.Uint16(b[10:])}
	req := new(mdns.Msg)
	action := mdns.DefaultMsgAcceptFunc(dh)
	if action == mdns.MsgAccept && req.Unpack(b) != nil {
		action = mdns.MsgReject
	}
	var m *mdns.Msg
	switch action {
	case mdns.MsgIgnore:
		return
	case mdns.MsgReject, mdns.MsgRejectNotImplemented:
		m = &mdns.Msg{MsgHdr: mdns.MsgHdr{Id: dh.Id, Response: true, Opcode: mdns.OpcodeQuery, Rcode: mdns.RcodeFormatError,
			RecursionDesired: dh.Bits&(1<<8) != 0, CheckingDisabled: dh.Bits&(1<<4) != 0}}
		if action == mdns.MsgRejectNotImplemented {
			m.Opcode, m.Rcode = int(dh.Bits>>11)&0xF, mdns.RcodeNotImplemented
		}
	default:
		if m = s.Reply(req, false); m == nil {
			return
		}
	}
	out, err := m.Pack()
	if err != nil {
		return
	}
	_, _ = conn.WriteToUDPAddrPort(out, from)
	s.observeMsg(req, m, false, start, from.String)
}
