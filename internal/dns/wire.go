package dns

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"slices"
	"sync"

	mdns "github.com/miekg/dns"
)

// wireAnswer is a reply packed once per snapshot: ID 0, the question in
// lower case, no OPT record. Per query only the ID, the RD and CD bits, the
// question's bytes (same length, the asker's case) and an OPT record are
// patched in, and a shuffled set (A, AAAA or SRV) has its answer records
// permuted, the pointers of the additional records into them moved along.
type wireAnswer struct {
	msg   []byte // nil: this question takes the slow path
	qlen  uint16 // wire length of the question name
	rrOff uint16 // offset of the first answer record
	set   *wireSet
}

// wireSet describes the answer records of a reply that has them shuffled
// or holding SRV targets (a reply is at most 64 KB: offsets fit 16 bits).
type wireSet struct {
	recs    []uint16  // each answer record's offset, then the end
	shuffle bool      // permute the answer records per query
	fix     []ptrFix  // pointers into the answer records
	names   []caseFix // SRV targets that end in the question's name
}

// ptrFix is a compression pointer at pos to inner bytes into answer rec.
type ptrFix struct{ pos, rec, inner uint16 }

// caseFix is an SRV target's tail, inner bytes into answer rec, that is the
// question's name from qoff on (n bytes): the slow path writes it in the
// asker's case, so the fast path copies the asker's bytes there.
type caseFix struct{ rec, inner, qoff, n uint16 }

// maxShuffled is the most records a fast-path answer permutes (a headless
// Service of 1,000 endpoints answers over TCP from the fast path too).
const maxShuffled = 1024

// maxWireEntries bounds a snapshot's precomputed replies, so queries for
// random names cannot grow memory; past it the slow path answers.
const maxWireEntries = 50000

// wireCache holds the precomputed replies of one snapshot by a hash of the
// lower-cased question name and type (the reply's own question confirms a
// hit, so no key is stored); a new snapshot starts with an empty one, so
// nothing outlives the state it came from.
type wireCache struct {
	mu sync.RWMutex
	m  map[uint64]*wireAnswer
}

var wireSeed = maphash.MakeSeed()

func (c *wireCache) get(key []byte) *wireAnswer {
	h := maphash.Bytes(wireSeed, key)
	c.mu.RLock()
	w := c.m[h]
	c.mu.RUnlock()
	if w != nil && w != slowPath && !w.asks(key) {
		return nil // another question with the same hash
	}
	return w
}

func (c *wireCache) put(key []byte, a *wireAnswer) {
	h := maphash.Bytes(wireSeed, key)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[uint64]*wireAnswer{}
	}
	if len(c.m) < maxWireEntries {
		c.m[h] = a
	}
}

// asks reports whether the reply's question is key (the lower-case dotted
// name, then the type's two bytes).
func (w *wireAnswer) asks(key []byte) bool {
	name := w.msg[12 : 12+int(w.qlen)]
	j := 0
	for i := 0; i < len(name) && name[i] != 0; i += 1 + int(name[i]) {
		l := int(name[i])
		if j+l >= len(key) || string(name[i+1:i+1+l]) != string(key[j:j+l]) || key[j+l] != '.' {
			return false
		}
		j += l + 1
	}
	t := w.msg[12+int(w.qlen):]
	return j+2 == len(key) && len(t) >= 2 && t[0] == key[j] && t[1] == key[j+1]
}

// slowPath marks a question the fast path leaves to Reply.
var slowPath = &wireAnswer{}

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
	b = append(make([]byte, 0, len(b)), b...) // Pack leaves room for the uncompressed size
	off, err := skipName(b, 12)
	if err != nil || len(b) > 0xFFFF {
		return nil
	}
	w := &wireAnswer{msg: b, qlen: uint16(off - 12), rrOff: uint16(off + 4)}
	shuffle := len(ans.Answer) > 1 && o.Shuffle && (qtype == mdns.TypeA || qtype == mdns.TypeAAAA || qtype == mdns.TypeSRV)
	hasSRV := slices.ContainsFunc(ans.Answer, func(rr mdns.RR) bool { return rr.Header().Rrtype == mdns.TypeSRV })
	if shuffle || hasSRV {
		set := &wireSet{shuffle: shuffle}
		if len(ans.Answer) > maxShuffled || len(ans.Ns) > 0 || !set.index(b, int(w.rrOff), int(w.qlen), len(ans.Answer), len(ans.Extra)) {
			return nil
		}
		set.recs, set.fix, set.names = slices.Clone(set.recs), slices.Clone(set.fix), slices.Clone(set.names) // exact sizes
		w.set = set
	}
	return w
}

// index finds the answer records and the pointers into them, for a reply
// whose answers are A, AAAA or SRV records naming only the question, and
// whose additional records are A/AAAA owned by a pointer.
func (w *wireSet) index(b []byte, rrOff, qlen, an, ar int) bool {
	off := rrOff
	w.recs = append(w.recs, uint16(off))
	for i := 0; i < an; i++ {
		end, ok := rrEnd(b, off, rrOff)
		if !ok {
			return false
		}
		if t, rdata := rrTypeData(b, off); t == mdns.TypeSRV {
			if f, ok := w.questionTail(b, qlen, rdata+6, end, i); ok {
				w.names = append(w.names, f)
			}
		}
		off = end
		w.recs = append(w.recs, uint16(off))
	}
	for i := 0; i < ar; i++ {
		if off+12 > len(b) || b[off]&0xC0 != 0xC0 {
			return false
		}
		if t := binary.BigEndian.Uint16(b[off+2:]); t != mdns.TypeA && t != mdns.TypeAAAA {
			return false
		}
		target := int(binary.BigEndian.Uint16(b[off:]) & 0x3FFF)
		if target >= rrOff {
			k, _ := slices.BinarySearch(w.recs, uint16(target+1))
			if k--; k < 0 || k >= an {
				return false
			}
			w.fix = append(w.fix, ptrFix{pos: uint16(off), rec: uint16(k), inner: uint16(target - int(w.recs[k]))})
		}
		off += 12 + int(binary.BigEndian.Uint16(b[off+10:]))
	}
	return off == len(b)
}

// rrTypeData returns the type and rdata offset of the record at off (whose
// owner rrEnd has checked).
func rrTypeData(b []byte, off int) (uint16, int) {
	for b[off] != 0 && b[off]&0xC0 != 0xC0 {
		off += 1 + int(b[off])
	}
	if b[off] == 0 {
		off++
	} else {
		off += 2
	}
	return binary.BigEndian.Uint16(b[off:]), off + 10
}

// questionTail finds the longest label-aligned tail of the uncompressed name
// at [from, end) of answer rec that equals the question's name's tail.
func (w *wireSet) questionTail(b []byte, qlen, from, end, rec int) (caseFix, bool) {
	qname := b[12 : 12+qlen]
	if end == 0 || b[end-1] != 0 {
		return caseFix{}, false // ends in a pointer: the question's own bytes
	}
	for p := from; p < end-1; p += 1 + int(b[p]) {
		tail := b[p:end]
		if len(tail) > len(qname) || string(tail) != string(qname[len(qname)-len(tail):]) {
			continue
		}
		qoff := len(qname) - len(tail)
		aligned := false
		for q := 0; q <= qoff; q += 1 + int(qname[q]) {
			if q == qoff {
				aligned = true
				break
			}
		}
		if aligned {
			return caseFix{rec: uint16(rec), inner: uint16(p - int(w.recs[rec])), qoff: uint16(qoff), n: uint16(len(tail) - 1)}, true
		}
	}
	return caseFix{}, false
}

// rrEnd returns the end of the A, AAAA or SRV record at off, whose names
// may point only below limit.
func rrEnd(b []byte, off, limit int) (int, bool) {
	name := func(off int) (int, bool) {
		for off < len(b) {
			l := int(b[off])
			switch {
			case l == 0:
				return off + 1, true
			case l&0xC0 == 0xC0:
				if off+2 > len(b) || int(binary.BigEndian.Uint16(b[off:])&0x3FFF) >= limit {
					return 0, false
				}
				return off + 2, true
			case l&0xC0 != 0:
				return 0, false
			}
			off += 1 + l
		}
		return 0, false
	}
	off, ok := name(off)
	if !ok || off+10 > len(b) {
		return 0, false
	}
	t, rdlen := binary.BigEndian.Uint16(b[off:]), int(binary.BigEndian.Uint16(b[off+8:]))
	off += 10
	end := off + rdlen
	if end > len(b) {
		return 0, false
	}
	switch t {
	case mdns.TypeA, mdns.TypeAAAA:
		return end, true
	case mdns.TypeSRV:
		if n, ok := name(off + 6); !ok || n != end {
			return 0, false
		}
		return end, true
	}
	return 0, false
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

// wireQuery is a plain query read straight from its bytes.
type wireQuery struct {
	id      uint16
	flags   uint16 // the query's RD and CD bits
	name    []byte // the question name as asked (its case), in wire form
	qtype   uint16
	opt     bool
	udpSize uint16
}

// parseQuery reads a query the fast path can serve: one IN question with
// plain labels (letters, digits, '-', '_'), no records but at most an OPT
// of version 0 without options, nothing after. key gets the lower-case
// dotted name and the type, the precomputed replies' key.
func parseQuery(b, key []byte) (wireQuery, []byte, bool) {
	var q wireQuery
	if len(b) < 12+1+4 {
		return q, key, false
	}
	flags := binary.BigEndian.Uint16(b[2:])
	if flags&0xF800 != 0 || // QR, opcode
		binary.BigEndian.Uint16(b[4:]) != 1 || binary.BigEndian.Uint16(b[6:]) != 0 || binary.BigEndian.Uint16(b[8:]) != 0 {
		return q, key, false
	}
	ar := binary.BigEndian.Uint16(b[10:])
	if ar > 1 {
		return q, key, false
	}
	q.id, q.flags = binary.BigEndian.Uint16(b), flags&0x0110
	off := 12
	for {
		if off >= len(b) {
			return q, key, false
		}
		l := int(b[off])
		if l == 0 {
			break
		}
		if l > 63 || off+1+l > len(b) {
			return q, key, false
		}
		for _, c := range b[off+1 : off+1+l] {
			switch {
			case c >= 'A' && c <= 'Z':
				c += 'a' - 'A'
			case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			default:
				return q, key, false
			}
			key = append(key, c)
		}
		key = append(key, '.')
		off += 1 + l
	}
	if len(key) == 0 || off+1 > 255+12 {
		return q, key, false // the root, or a name over 255 bytes
	}
	q.name = b[12 : off+1]
	off++
	if off+4 > len(b) {
		return q, key, false
	}
	q.qtype = binary.BigEndian.Uint16(b[off:])
	if binary.BigEndian.Uint16(b[off+2:]) != mdns.ClassINET || q.qtype == mdns.TypeAXFR || q.qtype == mdns.TypeIXFR {
		return q, key, false
	}
	off += 4
	key = append(key, byte(q.qtype>>8), byte(q.qtype))
	if ar == 1 { // OPT: root owner, type 41, class = UDP size, TTL = ext-rcode|version|flags, no data
		if off+11 != len(b) || b[off] != 0 || binary.BigEndian.Uint16(b[off+1:]) != mdns.TypeOPT ||
			b[off+6] != 0 || binary.BigEndian.Uint16(b[off+9:]) != 0 {
			return q, key, false
		}
		q.opt, q.udpSize = true, binary.BigEndian.Uint16(b[off+3:])
		off += 11
	}
	return q, key, off == len(b)
}

// fastReply appends to out the reply to the query in b from the snapshot's
// precomputed replies, with the question's type, or returns nil for the
// slow path. scratch is the caller's buffer for the cache key.
func (s *Server) fastReply(snap *Snapshot, b, out, scratch []byte, tcp bool, rnd interface{ IntN(int) int }) ([]byte, uint16) {
	q, key, ok := parseQuery(b, scratch[:0])
	if !ok || snap.wire == nil {
		return nil, 0
	}
	limit := 512
	if q.opt {
		limit = max(512, min(int(q.udpSize), 4096))
	}
	advertised := limit
	if tcp {
		limit = 0
	}
	w := snap.wire.get(key)
	if w == nil {
		lname := string(key[:len(key)-2])
		if w = precompute(snap, s.opts, lname, q.qtype); w == nil {
			w = slowPath
		}
		snap.wire.put(key, w)
	}
	if w.msg == nil || len(q.name) != int(w.qlen) {
		return nil, 0
	}
	n := len(w.msg)
	if q.opt {
		n += 11
	}
	if limit > 0 && n > limit {
		return nil, 0 // the slow path truncates
	}
	out = append(out[:0], w.msg...)
	binary.BigEndian.PutUint16(out[0:], q.id)
	binary.BigEndian.PutUint16(out[2:], binary.BigEndian.Uint16(out[2:])|q.flags)
	copy(out[12:], q.name) // the asker's case
	if set := w.set; set != nil {
		n := len(set.recs) - 1
		var start [maxShuffled]int
		for i := range n {
			start[i] = int(set.recs[i])
		}
		if set.shuffle {
			var perm [maxShuffled]uint16
			for i := 0; i < n; i++ {
				perm[i] = uint16(i)
			}
			for i := n - 1; i > 0; i-- {
				j := rnd.IntN(i + 1)
				perm[i], perm[j] = perm[j], perm[i]
			}
			pos := int(w.rrOff)
			for _, k := range perm[:n] {
				start[k] = pos
				pos += copy(out[pos:], w.msg[set.recs[k]:set.recs[k+1]])
			}
			for _, f := range set.fix {
				v := start[f.rec] + int(f.inner)
				out[f.pos], out[f.pos+1] = 0xC0|byte(v>>8), byte(v)
			}
		}
		for _, f := range set.names {
			at := start[f.rec] + int(f.inner)
			copy(out[at:at+int(f.n)], q.name[f.qoff:f.qoff+f.n])
		}
	}
	if q.opt {
		out = append(out, 0, 0, 41, byte(advertised>>8), byte(advertised), 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint16(out[10:], binary.BigEndian.Uint16(out[10:])+1)
	}
	return out, q.qtype
}
