package proxy

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// healthCheck serves a LoadBalancer Service's healthCheckNodePort on one
// node address, as kube-proxy does: 200 while this node has endpoints of
// the Service, 503 without, with their count; a load balancer sends
// externalTrafficPolicy Local traffic only to the nodes that answer 200.
type healthCheck struct {
	svc   string
	local atomic.Int64
	srv   *http.Server
}

// healthBody is kube-proxy's answer.
type healthBody struct {
	Service struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"service"`
	LocalEndpoints      int  `json:"localEndpoints"`
	ServiceProxyHealthy bool `json:"serviceProxyHealthy"`
}

func (p *Proxy) listenHealth(svc string, addr netip.AddrPort) (*healthCheck, error) {
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, err
	}
	h := &healthCheck{svc: svc}
	ns, name, _ := cache.SplitMetaNamespaceKey(svc)
	h.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		var b healthBody
		b.Service.Namespace, b.Service.Name = ns, name
		b.LocalEndpoints, b.ServiceProxyHealthy = int(h.local.Load()), true
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("X-Load-Balancing-Endpoint-Weight", strconv.Itoa(b.LocalEndpoints))
		if b.LocalEndpoints == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(&b)
	})}
	go func() {
		if err := h.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Warn("health check server", "service", svc, "err", err)
		}
	}()
	return h, nil
}

func (h *healthCheck) close() { _ = h.srv.Close() }

// localEndpoints counts the ready endpoints of a Service's slices on node.
func localEndpoints(sls []*discoveryv1.EndpointSlice, node string) int {
	seen := map[string]bool{}
	for _, sl := range sls {
		for _, e := range sl.Endpoints {
			if e.NodeName == nil || *e.NodeName != node || e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				seen[a] = true
			}
		}
	}
	return len(seen)
}

// syncHealth makes svc's health-check listeners match its spec: one per
// node address at its healthCheckNodePort while it is a LoadBalancer with
// externalTrafficPolicy Local. Called with p.mu held.
func (p *Proxy) syncHealth(key string, svc *corev1.Service, sls []*discoveryv1.EndpointSlice) {
	want := map[netip.AddrPort]bool{}
	if svc != nil && svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.HealthCheckNodePort != 0 &&
		svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		for _, a := range p.cfg.NodeAddresses {
			want[netip.AddrPortFrom(a, uint16(svc.Spec.HealthCheckNodePort))] = true
		}
	}
	for addr, h := range p.health {
		if h.svc == key && !want[addr] {
			h.close()
			delete(p.health, addr)
		}
	}
	n := int64(localEndpoints(sls, p.cfg.NodeName))
	for addr := range want {
		h := p.health[addr]
		if h == nil {
			var err error
			if h, err = p.listenHealth(key, addr); err != nil {
				p.log.Warn("cannot listen for a health check", "service", key, "addr", addr, "err", err)
				continue
			}
			p.health[addr] = h
		}
		h.local.Store(n)
	}
}
