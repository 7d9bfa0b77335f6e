// Package nslookup is busybox 1.28's nslookup, for pods of busybox:1.28
// images (the seed's busybox:1.28.3) on hosts whose busybox is newer:
// from 1.29 on busybox's nslookup is a DNS client of its own that prints
// differently and does not use the search path. This one resolves as the
// C library does (the pod's /etc/resolv.conf: nameserver, search, ndots),
// names each address by its PTR record, and prints what 1.28 printed:
//
//	Server:    10.96.0.10
//	Address 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local
//
//	Name:      headless-service
//	Address 1: 10.244.0.5 10-244-0-5.headless-service.default.svc.cluster.local
package nslookup

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/svcnet/svcnet/internal/poddns"
)

// Resolver asks one DNS server, as the C library's resolver does.
type Resolver struct {
	// Server is host:port of the name server.
	Server   string
	Searches []string
	Ndots    int
	Timeout  time.Duration
	Attempts int
}

// FromResolvConf is the resolver of a resolv.conf (its first nameserver,
// its search list, ndots; the C library's defaults otherwise); server,
// when not empty, replaces the nameserver (nslookup's second argument).
func FromResolvConf(rc poddns.ResolvConf, server string) Resolver {
	r := Resolver{Searches: rc.Searches, Ndots: 1, Timeout: 5 * time.Second, Attempts: 2}
	for _, o := range rc.Options {
		k, v, _ := strings.Cut(o, ":")
		n, err := strconv.Atoi(v)
		if err != nil {
			continue
		}
		switch k {
		case "ndots":
			r.Ndots = min(n, 15)
		case "timeout":
			r.Timeout = time.Duration(max(n, 1)) * time.Second
		case "attempts":
			r.Attempts = max(n, 1)
		}
	}
	ns := "127.0.0.1"
	if len(rc.Nameservers) > 0 {
		ns = rc.Nameservers[0]
	}
	if server != "" {
		ns = server
	}
	r.Server = net.JoinHostPort(ns, "53")
	return r
}

// exchange asks one question, over UDP and, when the answer is
// truncated, TCP.
func (r Resolver) exchange(name string, qtype uint16) (*mdns.Msg, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	var err error
	for i := 0; i < max(r.Attempts, 1); i++ {
		c := &mdns.Client{Timeout: r.Timeout}
		var in *mdns.Msg
		if in, _, err = c.Exchange(m, r.Server); err == nil {
			if in.Truncated {
				c.Net = "tcp"
				in, _, err = c.Exchange(m, r.Server)
			}
			if err == nil {
				return in, nil
			}
		}
	}
	return nil, err
}

// candidates are the names a lookup tries, in the C library's order: the
// name as given first when it has at least ndots dots (or ends in a dot),
// then with each search domain, then as given.
func (r Resolver) candidates(name string) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	var out []string
	asIs := strings.Count(name, ".") >= r.Ndots
	if asIs {
		out = append(out, name)
	}
	for _, s := range r.Searches {
		out = append(out, name+"."+strings.TrimSuffix(s, "."))
	}
	if !asIs {
		out = append(out, name)
	}
	return out
}

// Lookup resolves name to its addresses (IPv4 then IPv6), as getaddrinfo
// does: an address literal is itself; otherwise the first candidate name
// with any address answers.
func (r Resolver) Lookup(name string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(name); err == nil {
		return []netip.Addr{a}, nil
	}
	var lastErr error
	for _, cand := range r.candidates(name) {
		var addrs []netip.Addr
		for _, qt := range []uint16{mdns.TypeA, mdns.TypeAAAA} {
			in, err := r.exchange(cand, qt)
			if err != nil {
				lastErr = err
				continue
			}
			for _, rr := range in.Answer {
				switch v := rr.(type) {
				case *mdns.A:
					if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
						addrs = append(addrs, a)
					}
				case *mdns.AAAA:
					if a, ok := netip.AddrFromSlice(v.AAAA); ok {
						addrs = append(addrs, a)
					}
				}
			}
		}
		if len(addrs) > 0 {
			return addrs, nil
		}
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, fmt.Errorf("no address for %s", name)
}

// Name is the PTR name of addr ("" when it has none).
func (r Resolver) Name(addr netip.Addr) string {
	rev, err := mdns.ReverseAddr(addr.String())
	if err != nil {
		return ""
	}
	in, err := r.exchange(rev, mdns.TypePTR)
	if err != nil {
		return ""
	}
	for _, rr := range in.Answer {
		if p, ok := rr.(*mdns.PTR); ok {
			return strings.TrimSuffix(p.Ptr, ".")
		}
	}
	return ""
}

// print writes busybox 1.28's block for one looked-up name.
func (r Resolver) print(w io.Writer, header, name string) bool {
	addrs, err := r.Lookup(name)
	if err != nil {
		return false
	}
	fmt.Fprintf(w, "%-10s %s\n", header, name)
	for i, a := range addrs {
		if n := r.Name(a); n != "" {
			fmt.Fprintf(w, "Address %d: %s %s\n", i+1, a, n)
		} else {
			fmt.Fprintf(w, "Address %d: %s\n", i+1, a)
		}
	}
	return true
}

// Main is `nslookup NAME [SERVER]` with the resolver of resolvConf; it
// returns the exit code.
func Main(args []string, resolvConf string, stdout, stderr io.Writer) int {
	if len(args) < 1 || len(args) > 2 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "BusyBox v1.28.3 multi-call binary.\n\nUsage: nslookup [HOST] [SERVER]\n\nQuery the nameserver for the IP address of the given HOST\noptionally using a specified DNS server")
		return 1
	}
	text, _ := os.ReadFile(resolvConf)
	rc := poddns.Parse(string(text))
	// As the C library: these override resolv.conf (a pod without a
	// resolv.conf of its own gets its search path in them).
	if v := os.Getenv("LOCALDOMAIN"); v != "" {
		rc.Searches = strings.Fields(v)
	}
	if v := os.Getenv("RES_OPTIONS"); v != "" {
		rc.Options = append(rc.Options, strings.Fields(v)...)
	}
	server := ""
	if len(args) == 2 {
		server = args[1]
	}
	return run(FromResolvConf(rc, server), args[0], stdout, stderr)
}

func run(r Resolver, name string, stdout, stderr io.Writer) int {
	return runVia(r, r.Server, name, stdout, stderr)
}

// runVia prints as run does, the server named as r says, asking via.
func runVia(r Resolver, via, name string, stdout, stderr io.Writer) int {
	host, _, _ := net.SplitHostPort(r.Server)
	r.Server = via
	if !r.print(stdout, "Server:", host) {
		fmt.Fprintf(stdout, "%-10s %s\n", "Server:", host)
	}
	fmt.Fprintln(stdout)
	if !r.print(stdout, "Name:", name) {
		fmt.Fprintf(stderr, "nslookup: can't resolve '%s'\n", name)
		return 1
	}
	return 0
}
