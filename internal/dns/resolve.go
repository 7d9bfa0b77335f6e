package dns

import (
	"math/rand/v2"
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"
)

// PodsMode says how a-b-c-d.ns.pod.zone names are answered (C16).
type PodsMode string

// Pod record modes.
const (
	PodsInsecure PodsMode = "insecure"
	PodsVerified PodsMode = "verified"
	PodsDisabled PodsMode = "disabled"
)

// Options of the resolver.
type Options struct {
	Zone    string // lower case, with a trailing dot: "cluster.local."
	TTL     uint32
	Pods    PodsMode
	Shuffle bool
}

// Answer is the resolver's reply, before wire-level concerns (EDNS, size).
type Answer struct {
	Rcode  int
	Answer []mdns.RR
	Ns     []mdns.RR
	Extra  []mdns.RR
	// Refused means the name is outside the served zones.
	Refused bool
	// Fallthrough marks a reverse name no cluster address owns: an
	// upstream, when there is one, answers it instead.
	Fallthrough bool
}

const versionTTL = 28800

// Resolve answers one question from a snapshot, without side effects. Owner
// names keep the case of the question (R2, C18).
func Resolve(snap *Snapshot, o Options, qname string, qtype uint16, rnd *rand.Rand) Answer {
	ans := resolve(snap, o, qname, qtype, rnd)
	// R6: a CNAME to a name in the zone is followed, its records after it.
	for depth := 0; depth < 8 && (qtype == mdns.TypeA || qtype == mdns.TypeAAAA) && ans.Rcode == mdns.RcodeSuccess && len(ans.Answer) > 0; depth++ {
		c, ok := ans.Answer[len(ans.Answer)-1].(*mdns.CNAME)
		if !ok || !mdns.IsSubDomain(o.Zone, c.Target) {
			break
		}
		next := resolve(snap, o, c.Target, qtype, rnd)
		if next.Rcode != mdns.RcodeSuccess {
			ans.Rcode, ans.Ns = next.Rcode, next.Ns
			break
		}
		ans.Answer = append(ans.Answer, next.Answer...)
		if len(next.Answer) == 0 {
			ans.Ns = next.Ns
		}
	}
	return ans
}

func resolve(snap *Snapshot, o Options, qname string, qtype uint16, rnd *rand.Rand) Answer {
	qname = mdns.Fqdn(qname)
	lname := strings.ToLower(qname)
	if zone, ok := reverseZone(lname); ok {
		return resolvePTR(snap, o, qname, lname, qtype, zone)
	}
	if !mdns.IsSubDomain(o.Zone, lname) {
		return Answer{Refused: true}
	}
	zoneOwner := qname[len(qname)-len(o.Zone):] // the zone as asked
	neg := func(rcode int) Answer {
		if !snap.Synced && rcode == mdns.RcodeNameError {
			return Answer{Rcode: mdns.RcodeServerFailure} // C22: not synced yet
		}
		return Answer{Rcode: rcode, Ns: []mdns.RR{soa(o, zoneOwner, snap.Serial)}}
	}
	rest := strings.TrimSuffix(strings.TrimSuffix(lname, o.Zone), ".")
	var labels []string
	if rest != "" {
		labels = strings.Split(rest, ".")
	}
	n := len(labels)
	switch {
	case n == 0: // the apex (C3)
		switch qtype {
		case mdns.TypeSOA:
			return Answer{Answer: []mdns.RR{soa(o, qname, snap.Serial)}}
		case mdns.TypeNS:
			ns := "ns.dns." + zoneOwner
			return Answer{Answer: []mdns.RR{&mdns.NS{Hdr: hdr(qname, mdns.TypeNS, o.TTL), Ns: ns}}}
		}
		return neg(mdns.RcodeSuccess)
	case n == 1 && labels[0] == "dns-version": // S4, C23
		if qtype == mdns.TypeTXT {
			return Answer{Answer: []mdns.RR{&mdns.TXT{Hdr: hdr(qname, mdns.TypeTXT, versionTTL), Txt: []string{"1.1.0"}}}}
		}
		return neg(mdns.RcodeSuccess)
	case labels[n-1] == "svc":
		return resolveSvc(snap, o, qname, qtype, labels[:n-1], rnd, neg)
	case labels[n-1] == "pod":
		return resolvePod(snap, o, qname, qtype, labels[:n-1], neg)
	}
	return neg(mdns.RcodeNameError) // C4
}

func hdr(name string, t uint16, ttl uint32) mdns.RR_Header {
	return mdns.RR_Header{Name: name, Rrtype: t, Class: mdns.ClassINET, Ttl: ttl}
}

// soa is the zone's SOA (C2).
func soa(o Options, owner string, serial uint32) mdns.RR {
	return &mdns.SOA{Hdr: hdr(owner, mdns.TypeSOA, min(o.TTL, 300)), Ns: "ns.dns." + o.Zone, Mbox: "hostmaster." + o.Zone,
		Serial: serial, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: o.TTL}
}

func addrRR(name string, a netip.Addr, ttl uint32) mdns.RR {
	if a.Is4() {
		return &mdns.A{Hdr: hdr(name, mdns.TypeA, ttl), A: a.AsSlice()}
	}
	return &mdns.AAAA{Hdr: hdr(name, mdns.TypeAAAA, ttl), AAAA: a.AsSlice()}
}

func wantFamily(qtype uint16, a netip.Addr) bool {
	return (qtype == mdns.TypeA && a.Is4()) || (qtype == mdns.TypeAAAA && a.Is6())
}

func shuffle(rrs []mdns.RR, o Options, rnd *rand.Rand) {
	if o.Shuffle && rnd != nil {
		rnd.Shuffle(len(rrs), func(i, j int) { rrs[i], rrs[j] = rrs[j], rrs[i] })
	}
}

func resolveSvc(snap *Snapshot, o Options, qname string, qtype uint16, l []string, rnd *rand.Rand, neg func(int) Answer) Answer {
	n := len(l)
	if n == 0 {
		return neg(mdns.RcodeSuccess) // svc.zone: NODATA (C4)
	}
	ns := l[n-1]
	if !snap.Namespaces[ns] {
		return neg(mdns.RcodeNameError) // C5
	}
	if n == 1 {
		return neg(mdns.RcodeSuccess) // ns.svc.zone exists
	}
	svc := snap.Service(ns + "/" + l[n-2])
	if svc == nil || n > 4 {
		return neg(mdns.RcodeNameError)
	}
	svcName := qname[len(qname)-len(svc.FQDN(o.Zone)):] // as asked
	switch n {
	case 2:
		return serviceAnswer(svc, o, qname, svcName, qtype, rnd, neg)
	case 3: // <endpoint>.<svc> (S12, C8)
		if svc.ExternalName != "" {
			return neg(mdns.RcodeNameError)
		}
		var out []mdns.RR
		found := false
		for _, e := range svc.Endpoints {
			if e.Ready && e.HasLabel(l[0]) {
				found = true
				if wantFamily(qtype, e.Addr) {
					out = append(out, addrRR(qname, e.Addr, o.TTL))
				}
			}
		}
		if !found {
			return neg(mdns.RcodeNameError)
		}
		if len(out) == 0 {
			return neg(mdns.RcodeSuccess)
		}
		return Answer{Answer: out}
	default: // _port._proto.<svc> (S7, S13)
		if !strings.HasPrefix(l[0], "_") || !strings.HasPrefix(l[1], "_") || svc.ExternalName != "" {
			return neg(mdns.RcodeNameError) // C12
		}
		ans := srvAnswer(svc, o, qname, svcName, l[0][1:], l[1][1:], rnd)
		if len(ans.Answer) == 0 {
			return neg(mdns.RcodeNameError)
		}
		if qtype != mdns.TypeSRV {
			return neg(mdns.RcodeSuccess)
		}
		return ans
	}
}

// srvAnswer is the SRV set for a port name and protocol ("" matches all).
func srvAnswer(svc *Service, o Options, qname, svcName, port, proto string, rnd *rand.Rand) Answer {
	var ans Answer
	if !svc.Headless {
		var ports []Port
		for _, p := range svc.Ports {
			if (port == "" || p.Name == port) && (proto == "" || p.Proto == proto) {
				ports = append(ports, p)
			}
		}
		for _, p := range ports {
			ans.Answer = append(ans.Answer, &mdns.SRV{Hdr: hdr(qname, mdns.TypeSRV, o.TTL), Priority: 0, Weight: uint16(100 / max(len(ports), 1)), Port: p.Port, Target: svcName})
		}
		if len(ans.Answer) > 0 {
			for _, ip := range svc.ClusterIPs {
				ans.Extra = append(ans.Extra, addrRR(svcName, ip, o.TTL))
			}
		}
		return ans
	}
	// Headless: one SRV per (endpoint hostname, port), the port being the
	// EndpointSlice's (C10); targets' addresses go to the additional section.
	type key struct {
		host string
		port uint16
	}
	seen := map[key]bool{}
	extraSeen := map[netip.Addr]bool{}
	for _, e := range svc.Endpoints {
		if !e.Ready {
			continue
		}
		label := e.Label()
		target := label + "." + svcName
		for _, p := range e.Ports {
			if (port != "" && p.Name != port) || (proto != "" && p.Proto != proto) {
				continue
			}
			k := key{label, p.Port}
			if !seen[k] {
				seen[k] = true
				ans.Answer = append(ans.Answer, &mdns.SRV{Hdr: hdr(qname, mdns.TypeSRV, o.TTL), Priority: 0, Weight: 100, Port: p.Port, Target: target})
			}
			if !extraSeen[e.Addr] {
				extraSeen[e.Addr] = true
				ans.Extra = append(ans.Extra, addrRR(target, e.Addr, o.TTL))
			}
		}
	}
	for i := range ans.Answer {
		ans.Answer[i].(*mdns.SRV).Weight = uint16(100 / max(len(ans.Answer), 1))
	}
	shuffle(ans.Answer, o, rnd)
	return ans
}

func serviceAnswer(svc *Service, o Options, qname, svcName string, qtype uint16, rnd *rand.Rand, neg func(int) Answer) Answer {
	if svc.ExternalName != "" { // S15, C14
		cname := &mdns.CNAME{Hdr: hdr(qname, mdns.TypeCNAME, o.TTL), Target: svc.ExternalName}
		switch qtype {
		case mdns.TypeCNAME, mdns.TypeA, mdns.TypeAAAA:
			return Answer{Answer: []mdns.RR{cname}}
		}
		return neg(mdns.RcodeSuccess)
	}
	if svc.Headless {
		var ready []Endpoint
		for _, e := range svc.Endpoints {
			if e.Ready {
				ready = append(ready, e)
			}
		}
		if len(ready) == 0 {
			return neg(mdns.RcodeNameError) // S11, C20
		}
		switch qtype {
		case mdns.TypeA, mdns.TypeAAAA:
			var out []mdns.RR
			for _, e := range ready {
				if wantFamily(qtype, e.Addr) {
					out = append(out, addrRR(qname, e.Addr, o.TTL))
				}
			}
			if len(out) == 0 {
				return neg(mdns.RcodeSuccess)
			}
			shuffle(out, o, rnd)
			return Answer{Answer: out}
		case mdns.TypeSRV:
			if ans := srvAnswer(svc, o, qname, svcName, "", "", rnd); len(ans.Answer) > 0 {
				return ans
			}
		}
		return neg(mdns.RcodeSuccess)
	}
	switch qtype {
	case mdns.TypeA, mdns.TypeAAAA: // S5, S6, C21
		var out []mdns.RR
		for _, ip := range svc.ClusterIPs {
			if wantFamily(qtype, ip) {
				out = append(out, addrRR(qname, ip, o.TTL))
			}
		}
		if len(out) == 0 {
			return neg(mdns.RcodeSuccess)
		}
		return Answer{Answer: out}
	case mdns.TypeSRV: // C9
		if ans := srvAnswer(svc, o, qname, svcName, "", "", rnd); len(ans.Answer) > 0 {
			return ans
		}
	}
	return neg(mdns.RcodeSuccess) // C19
}

func resolvePod(snap *Snapshot, o Options, qname string, qtype uint16, l []string, neg func(int) Answer) Answer {
	if len(l) == 0 {
		return neg(mdns.RcodeSuccess) // pod.zone
	}
	ns := l[len(l)-1]
	if o.Pods == PodsDisabled || !snap.Namespaces[ns] {
		return neg(mdns.RcodeNameError)
	}
	if len(l) == 1 {
		return neg(mdns.RcodeSuccess)
	}
	if len(l) != 2 {
		return neg(mdns.RcodeNameError)
	}
	a, ok := podAddr(l[0])
	if !ok || (o.Pods == PodsVerified && !snap.Pods[ns][a]) {
		return neg(mdns.RcodeNameError)
	}
	if !wantFamily(qtype, a) {
		return neg(mdns.RcodeSuccess)
	}
	return Answer{Answer: []mdns.RR{addrRR(qname, a, o.TTL)}}
}

// podAddr reads a-b-c-d (IPv4, exactly three dashes) or the dashed IPv6 form.
func podAddr(label string) (netip.Addr, bool) {
	if strings.Count(label, "-") == 3 && !strings.Contains(label, "--") {
		a, err := netip.ParseAddr(strings.ReplaceAll(label, "-", "."))
		return a, err == nil && a.Is4()
	}
	a, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":"))
	return a, err == nil && a.Is6()
}

// reverseZone reports whether name lies in in-addr.arpa or ip6.arpa.
func reverseZone(lname string) (string, bool) {
	for _, z := range []string{"in-addr.arpa.", "ip6.arpa."} {
		if mdns.IsSubDomain(z, lname) {
			return z, true
		}
	}
	return "", false
}

func resolvePTR(snap *Snapshot, o Options, qname, lname string, qtype uint16, zone string) Answer {
	zoneOwner := qname[len(qname)-len(zone):]
	neg := func(rcode int) Answer {
		return Answer{Rcode: rcode, Ns: []mdns.RR{&mdns.SOA{Hdr: hdr(zoneOwner, mdns.TypeSOA, min(o.TTL, 300)), Ns: "ns.dns." + o.Zone,
			Mbox: "hostmaster." + o.Zone, Serial: snap.Serial, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: o.TTL}}}
	}
	a, ok := reverseAddr(lname)
	if !ok {
		return neg(mdns.RcodeNameError)
	}
	names := snap.PTR(a, o.Zone)
	if len(names) == 0 {
		if !snap.Synced {
			return Answer{Rcode: mdns.RcodeServerFailure}
		}
		a := neg(mdns.RcodeNameError) // C15
		a.Fallthrough = true
		return a
	}
	if qtype != mdns.TypePTR {
		return neg(mdns.RcodeSuccess)
	}
	var out []mdns.RR
	for _, n := range names {
		out = append(out, &mdns.PTR{Hdr: hdr(qname, mdns.TypePTR, o.TTL), Ptr: n})
	}
	return Answer{Answer: out}
}

// reverseAddr parses a full reverse name (4 octets, or 32 nibbles).
func reverseAddr(lname string) (netip.Addr, bool) {
	if v4, ok := strings.CutSuffix(lname, ".in-addr.arpa."); ok {
		p := strings.Split(v4, ".")
		if len(p) != 4 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(p[3] + "." + p[2] + "." + p[1] + "." + p[0])
		return a, err == nil
	}
	if v6, ok := strings.CutSuffix(lname, ".ip6.arpa."); ok {
		p := strings.Split(v6, ".")
		if len(p) != 32 {
			return netip.Addr{}, false
		}
		var b strings.Builder
		for i := 31; i >= 0; i-- {
			if len(p[i]) != 1 {
				return netip.Addr{}, false
			}
			b.WriteString(p[i])
			if i%4 == 0 && i > 0 {
				b.WriteByte(':')
			}
		}
		a, err := netip.ParseAddr(b.String())
		return a, err == nil && a.Is6()
	}
	return netip.Addr{}, false
}
