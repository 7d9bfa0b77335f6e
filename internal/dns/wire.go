package dns

import (
	"encoding/binary"
	"errors"
	"strings"
	"sync"

	mdns "github.com/miekg/dns"
)

// wireKey names a precomputed reply: the lower-cased question and its type.
type wireKey struct {
	name  string
	qtype uint16
}

// wireAnswer is a reply packed once per snapshot: ID 0, the question in
// lower case, no OPT record. Per query only the ID, the RD bit, the
// question's bytes (same length, the asker's case; every owner name is a
// compression pointer into it) and an OPT record are patched in, and the
// answer records are permuted when the answer is a shufflable A/AAAA set.
type wireAnswer struct {
	msg    []byte
	rcode  int
	qlen   int // wire length of the question name
	rrOff  int // offset of the first answer record
	rrSize int // size of each answer record (0: not shufflable)
	rrN    int
}

// maxWireEntries bounds a snapshot's precomputed replies, so queries for
// random names cannot grow memory; past it the slow path answers.
const maxWireEntries = 50000

// wireCache holds the precomputed replies of one snapshot; a new snapshot
// starts with an empty one, so nothing outlives the state it came from.
type wireCache struct {
	mu sync.RWMutex
	m  map[wireKey]*wireAnswer
}

func (c *wireCache) get(k wireKey) *wireAnswer {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[k]
}

func (c *wireCache) put(k wireKey, a *wireAnswer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[wireKey]*wireAnswer{}
	}
	if len(c.m) < maxWireEntries {
		c.m[k] = a
	}
}

// precompute packs the reply for a lower-case question; nil when the answer
// is not one the fast path serves (refused, forwarded, SRV sets whose
// records may not be reordered).
func precompute(snap *Snapshot, o Options, lname string, qtype uint16) *wireAnswer {
	ans := Resolve(snap, o, lname, qtype, nil)
	if ans.Refused || ans.Fallthrough || ans.Rcode == mdns.RcodeServerFailure {
		return nil
	}
	m := new(mdns.Msg)
	m.SetQuestion(lname, qtype)
	m.Response, m.Authoritative, m.RecursionDesired, m.Compress = true, true, false, true
	m.Rcode, m.Answer, m.Ns, m.Extra = ans.Rcode, ans.Answer, ans.Ns, ans.Extra
	b, err := m.Pack()
	if err != nil {
		return nil
	}
	w := &wireAnswer{msg: b, rcode: ans.Rcode, qlen: len(b) - 12 - 4, rrOff: len(b)}
	// Find the question's end and the answer records.
	off, err := skipName(b, 12)
	if err != nil {
		return nil
	}
	w.qlen = off - 12
	w.rrOff = off + 4
	w.rrN = len(ans.Answer)
	if w.rrN > 1 {
		if !o.Shuffle {
			w.rrSize = 0
		} else if qtype == mdns.TypeA || qtype == mdns.TypeAAAA {
			size := 16
			if qtype == mdns.TypeAAAA {
				size = 28
			}
			// Every record must be a pointer-owned A/AAAA of that size.
			for i := 0; i < w.rrN; i++ {
				p := w.rrOff + i*size
				if p+size > len(b) || b[p]&0xC0 != 0xC0 || binary.BigEndian.Uint16(b[p+2:]) != qtype {
					return nil
				}
			}
			w.rrSize = size
		} else {
			return nil // SRV and others: the slow path shuffles them
		}
	}
	return w
}

// skipName returns the offset after the (uncompressed) name at off.
func skipName(b []byte, off int) (int, error) {
	for off < len(b) {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, nil
		case l&0xC0 == 0xC0:
			return off + 2, nil
		}
		off += 1 + l
	}
	return 0, errShort
}

var errShort = errors.New("dns: name runs past the message")

// fastReply serves r from the snapshot's precomputed replies, or returns
// nil to take the slow path. size is the client's UDP limit (0 for TCP).
func (s *Server) fastReply(snap *Snapshot, r *mdns.Msg, opt *mdns.OPT, size, advertised int) []byte {
	q := r.Question[0]
	lname := strings.ToLower(q.Name)
	if !strings.HasSuffix(lname, ".") {
		return nil
	}
	k := wireKey{lname, q.Qtype}
	if snap.wire == nil {
		return nil
	}
	w := snap.wire.get(k)
	if w == nil {
		if w = precompute(snap, s.opts, lname, q.Qtype); w == nil {
			return nil
		}
		snap.wire.put(k, w)
	}
	n := len(w.msg)
	if opt != nil {
		n += 11
	}
	if size > 0 && n > size {
		return nil // the slow path truncates
	}
	out := make([]byte, len(w.msg), n)
	copy(out, w.msg)
	binary.BigEndian.PutUint16(out[0:], r.Id)
	if r.RecursionDesired {
		out[2] |= 0x01
	}
	if r.CheckingDisabled {
		out[3] |= 0x10
	}
	// The asker's question name: the same length, its own case.
	qb := make([]byte, 0, w.qlen)
	qb, ok := appendName(qb, q.Name)
	if !ok || len(qb) != w.qlen {
		return nil
	}
	copy(out[12:], qb)
	if w.rrSize > 0 && w.rrN > 1 {
		rnd := s.rnd.Get().(interface{ IntN(int) int })
		tmp := make([]byte, w.rrSize)
		for i := w.rrN - 1; i > 0; i-- {
			j := rnd.IntN(i + 1)
			a, b := out[w.rrOff+i*w.rrSize:w.rrOff+(i+1)*w.rrSize], out[w.rrOff+j*w.rrSize:w.rrOff+(j+1)*w.rrSize]
			copy(tmp, a)
			copy(a, b)
			copy(b, tmp)
		}
		s.rnd.Put(rnd)
	}
	if opt != nil {
		udp := uint16(advertised)
		out = append(out, 0, 0, 41, byte(udp>>8), byte(udp), 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
	}
	return out
}

// appendName writes a domain name in wire form, without compression.
func appendName(b []byte, name string) ([]byte, bool) {
	if name == "." {
		return append(b, 0), true
	}
	for _, label := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if len(label) == 0 || len(label) > 63 || strings.ContainsAny(label, "\\") {
			return b, false
		}
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	return append(b, 0), true
}
