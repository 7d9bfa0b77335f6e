package dnsapp

import (
	"bufio"
	"net"
	"net/netip"
	"os"
	"strings"
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

func nameservers(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "nameserver" {
			out = append(out, fields[1])
		}
	}
	return out
}
