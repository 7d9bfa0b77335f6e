package dns

import (
	"context"
	"time"

	mdns "github.com/miekg/dns"
)

// forward asks the upstreams in turn, over UDP, then TCP when truncated.
// The reply keeps the asker's ID.
func (s *Server) forward(ctx context.Context, r *mdns.Msg) *mdns.Msg {
	for _, up := range s.cfg.Upstreams {
		for _, network := range []string{"udp", "tcp"} {
			c := &mdns.Client{Net: network, Timeout: 2 * time.Second, UDPSize: 4096}
			resp, _, err := c.ExchangeContext(ctx, r, up)
			if err != nil {
				break // next upstream
			}
			if resp.Truncated && network == "udp" {
				continue
			}
			resp.Id = r.Id
			return resp
		}
	}
	return nil
}

// chase appends the upstream's answer for an out-of-zone CNAME target
// (C14): the CNAME first, then the target's records.
func (s *Server) chase(ctx context.Context, target string, qtype uint16) []mdns.RR {
	q := new(mdns.Msg)
	q.SetQuestion(target, qtype)
	q.RecursionDesired = true
	resp := s.forward(ctx, q)
	if resp == nil || resp.Rcode != mdns.RcodeSuccess {
		return nil
	}
	return resp.Answer
}
