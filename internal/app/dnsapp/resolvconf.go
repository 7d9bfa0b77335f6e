package dnsapp

import (
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/svcnet/svcnet/internal/poddns"
)

// upstreams resolves --upstream: "none" is no upstream; a comma list is taken
// as given (port 53 by default); empty reads /etc/resolv.conf, following
// systemd-resolved's stub (127.0.0.53) to the real list it keeps, and never
// lists our own DNS address.
func upstreams(flag, self string) []string {
	switch flag {
	case "none":
		return nil
	case "":
	default:
		var out []string
		for _, u := range strings.Split(flag, ",") {
			if u = strings.TrimSpace(u); u != "" {
				out = append(out, withPort(u))
			}
		}
		return out
	}
	servers := nameservers("/etc/resolv.conf")
	if len(servers) == 1 && servers[0] == "127.0.0.53" {
		if real := nameservers("/run/systemd/resolve/resolv.conf"); len(real) > 0 {
			servers = real
		}
	}
	var out []string
	for _, s := range servers {
		if a := withPort(s); a != self && s != "127.0.0.53" {
			out = append(out, a)
		}
	}
	return out
}

func withPort(s string) string {
	if _, _, err := net.SplitHostPort(s); err == nil {
		return s
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 53).String()
	}
	return net.JoinHostPort(s, "53")
}

// nameservers are the servers of a resolv.conf (none when unreadable).
func nameservers(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return poddns.Parse(string(b)).Nameservers
}
