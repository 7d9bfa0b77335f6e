package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/testutil"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func ptr[T any](v T) *T { return &v }

func slice(family discoveryv1.AddressType, port string, p int32, eps map[string]bool) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{AddressType: family, Ports: []discoveryv1.EndpointPort{{Name: ptr(port), Port: ptr(p), Protocol: ptr(corev1.ProtocolTCP)}}}
	for a, ready := range eps {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(ready)}})
	}
	return s
}

// runProxy runs a proxy on a fake clientset until the test ends, and
// returns it once it has programmed what the clientset holds.
func runProxy(t *testing.T, cfg Config, client *fake.Clientset) *Proxy {
	t.Helper()
	p := New(cfg, client, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-p.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("proxy not ready")
	}
	return p
}

func TestBackends(t *testing.T) {
	v4 := netip.MustParseAddr("127.96.0.5")
	tests := []struct {
		name   string
		slices []*discoveryv1.EndpointSlice
		port   string
		want   []string
	}{
		{"ready only, sorted", []*discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv4, "http", 3000, map[string]bool{"127.244.0.3": true, "127.244.0.2": true, "127.244.0.9": false})},
			"http", []string{"127.244.0.2:3000", "127.244.0.3:3000"}},
		{"the port is the slice's, by name", []*discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv4, "metrics", 9090, map[string]bool{"127.244.0.2": true})},
			"http", nil},
		{"other family ignored", []*discoveryv1.EndpointSlice{slice(discoveryv1.AddressTypeIPv6, "http", 3000, map[string]bool{"fd00::2": true})},
			"http", nil},
		{"an address in two slices once", []*discoveryv1.EndpointSlice{
			slice(discoveryv1.AddressTypeIPv4, "http", 3000, map[string]bool{"127.244.0.2": true}),
			slice(discoveryv1.AddressTypeIPv4, "http", 3000, map[string]bool{"127.244.0.2": true})},
			"http", []string{"127.244.0.2:3000"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			p := New(Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			for _, b := range p.choose(endpoints(tc.slices, v4, tc.port, corev1.ProtocolTCP), "") {
				got = append(got, b.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestChoose(t *testing.T) {
	type ep struct {
		addr, node         string
		ready, terminating bool
		forNodes, forZones []string
	}
	mk := func(eps ...ep) []*discoveryv1.EndpointSlice {
		s := slice(discoveryv1.AddressTypeIPv4, "http", 3000, nil)
		for _, e := range eps {
			d := discoveryv1.Endpoint{Addresses: []string{e.addr}, NodeName: ptr(e.node),
				Conditions: discoveryv1.EndpointConditions{Ready: ptr(e.ready), Serving: ptr(e.ready || e.terminating), Terminating: ptr(e.terminating)}}
			if len(e.forNodes)+len(e.forZones) > 0 {
				d.Hints = &discoveryv1.EndpointHints{}
				for _, n := range e.forNodes {
					d.Hints.ForNodes = append(d.Hints.ForNodes, discoveryv1.ForNode{Name: n})
				}
				for _, z := range e.forZones {
					d.Hints.ForZones = append(d.Hints.ForZones, discoveryv1.ForZone{Name: z})
				}
			}
			s.Endpoints = append(s.Endpoints, d)
		}
		return []*discoveryv1.EndpointSlice{s}
	}
	a1 := ep{addr: "127.244.0.2", node: "node-1", ready: true, forNodes: []string{"node-1"}, forZones: []string{"zone-a"}}
	a2 := ep{addr: "127.244.0.3", node: "node-1", ready: true, forNodes: []string{"node-1"}, forZones: []string{"zone-a"}}
	b1 := ep{addr: "127.244.1.2", node: "node-2", ready: true, forNodes: []string{"node-2"}, forZones: []string{"zone-b"}}
	c1 := ep{addr: "127.244.2.2", node: "node-3", ready: true, forNodes: []string{"node-3"}, forZones: []string{"zone-b"}}
	unhinted := ep{addr: "127.244.3.2", node: "node-4", ready: true}
	gone := ep{addr: "127.244.0.9", node: "node-1", terminating: true}
	cases := []struct {
		name       string
		slices     []*discoveryv1.EndpointSlice
		self, zone string
		local      string
		want       int
	}{
		{"every ready endpoint", mk(a1, b1, c1), "", "", "", 3},
		{"Local: this node's only", mk(a1, a2, b1), "node-1", "", "node-1", 2},
		{"Local with none here: nothing", mk(b1), "node-1", "", "node-1", 0},
		{"hints for this node", mk(a1, a2, b1, c1), "node-1", "zone-a", "", 2},
		{"no node hint here: this zone's", mk(b1, c1), "node-9", "zone-b", "", 2},
		{"no hint for here at all: everything", mk(b1, c1), "node-9", "zone-z", "", 2},
		{"an endpoint without hints: hints ignored", mk(a1, b1, unhinted), "node-1", "zone-a", "", 3},
		{"no ready endpoint: the terminating ones still serving", mk(gone, ep{addr: "127.244.0.8", node: "node-1"}), "", "", "", 1},
		{"a ready one: no terminating one", mk(gone, b1), "", "", "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Config{NodeName: tc.self, Zone: tc.zone}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			got := p.choose(endpoints(tc.slices, netip.MustParseAddr("127.96.0.5"), "http", corev1.ProtocolTCP), tc.local)
			if len(got) != tc.want {
				t.Fatalf("chose %v, want %d", got, tc.want)
			}
		})
	}
}

func TestListeners(t *testing.T) {
	vip := corev1.LoadBalancerIPModeVIP
	proxyMode := corev1.LoadBalancerIPModeProxy
	node := []netip.Addr{netip.MustParseAddr("127.0.0.2")}
	svc := func(typ corev1.ServiceType, mutate func(*corev1.ServiceSpec, *corev1.ServiceStatus)) *corev1.Service {
		s := &corev1.Service{Spec: corev1.ServiceSpec{Type: typ, ClusterIP: "127.96.0.5", ClusterIPs: []string{"127.96.0.5"}}}
		if mutate != nil {
			mutate(&s.Spec, &s.Status)
		}
		return s
	}
	cases := []struct {
		name     string
		svc      *corev1.Service
		nodeOnly bool
		want     []string // ip, then n for a nodePort, e for external
	}{
		{"ClusterIP", svc(corev1.ServiceTypeClusterIP, nil), false, []string{"127.96.0.5"}},
		{"headless: nothing", svc(corev1.ServiceTypeClusterIP, func(s *corev1.ServiceSpec, _ *corev1.ServiceStatus) {
			s.ClusterIP, s.ClusterIPs = "None", []string{"None"}
		}), false, nil},
		{"NodePort", svc(corev1.ServiceTypeNodePort, nil), false, []string{"127.96.0.5", "127.0.0.2 n e"}},
		{"externalIPs", svc(corev1.ServiceTypeClusterIP, func(s *corev1.ServiceSpec, _ *corev1.ServiceStatus) { s.ExternalIPs = []string{"127.99.0.1"} }), false,
			[]string{"127.96.0.5", "127.99.0.1 e"}},
		{"LoadBalancer", svc(corev1.ServiceTypeLoadBalancer, func(_ *corev1.ServiceSpec, st *corev1.ServiceStatus) {
			st.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "127.98.0.1", IPMode: &vip}, {IP: "127.98.0.2", IPMode: &proxyMode}, {Hostname: "lb.example"}}
		}), false, []string{"127.96.0.5", "127.98.0.1 e", "127.0.0.2 n e"}},
		{"node only: the nodePort alone", svc(corev1.ServiceTypeLoadBalancer, func(s *corev1.ServiceSpec, st *corev1.ServiceStatus) {
			s.ExternalIPs = []string{"127.99.0.1"}
			st.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "127.98.0.1"}}
		}), true, []string{"127.0.0.2 n e"}},
		{"an IPv6-only Service has no IPv4 nodePort", svc(corev1.ServiceTypeNodePort, func(s *corev1.ServiceSpec, _ *corev1.ServiceStatus) {
			s.ClusterIP, s.ClusterIPs = "fd00::5", []string{"fd00::5"}
		}), false,
			[]string{"fd00::5"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := New(Config{NodeAddresses: node, NodeOnly: tc.nodeOnly}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
			var got []string
			for _, l := range p.listeners(tc.svc) {
				s := l.ip.String()
				if l.nodePort {
					s += " n"
				}
				if l.external {
					s += " e"
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("listeners %v, want %v", got, tc.want)
			}
		})
	}
}

func TestPickAffinityAndRetry(t *testing.T) {
	p := New(Config{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	sp := &servicePort{p: p, clients: map[netip.Addr]stick{}}
	a, b := netip.MustParseAddrPort("127.244.0.2:80"), netip.MustParseAddrPort("127.244.0.3:80")
	sp.update(wanted{backends: []netip.AddrPort{a, b}, affinity: time.Hour})
	client := netip.MustParseAddr("127.0.0.1")
	first, _ := sp.pick(client, nil)
	for i := 0; i < 20; i++ {
		if got, _ := sp.pick(client, nil); got != first {
			t.Fatalf("affinity broken: %v then %v", first, got)
		}
	}
	other, _ := sp.pick(client, []netip.AddrPort{first})
	if other == first {
		t.Fatal("a tried backend was picked again")
	}
	if _, ok := sp.pick(client, []netip.AddrPort{a, b}); ok {
		t.Fatal("picked with every backend tried")
	}
	// The sticky backend leaves: the client moves.
	sp.update(wanted{backends: []netip.AddrPort{other}, affinity: time.Hour})
	if got, _ := sp.pick(client, nil); got != other {
		t.Fatalf("still sent to a removed backend: %v", got)
	}
	// Without affinity both are used.
	sp.update(wanted{backends: []netip.AddrPort{a, b}})
	seen := map[netip.AddrPort]bool{}
	for i := 0; i < 100; i++ {
		got, _ := sp.pick(client, nil)
		seen[got] = true
	}
	if len(seen) != 2 {
		t.Fatalf("random choice used %v", seen)
	}
}

// echo serves TCP on a loopback address, answering each line with name.
func echo(t *testing.T, name string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(io.Discard, io.LimitReader(c, 1))
				_, _ = c.Write([]byte(name))
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// TestProxyForwardsAndFollowsChanges runs the proxy on a fake clientset:
// a Service on a loopback ClusterIP, endpoints that refuse and answer,
// and a change of endpoints.
func TestProxyForwardsAndFollowsChanges(t *testing.T) {
	good := echo(t, "good")
	refused := func() netip.AddrPort { // a port nobody listens on
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		ap := netip.MustParseAddrPort(ln.Addr().String())
		ln.Close()
		return ap
	}()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	svcPort := int32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"},
			Spec: corev1.ServiceSpec{ClusterIP: "127.0.0.1", ClusterIPs: []string{"127.0.0.1"}, Ports: []corev1.ServicePort{{Name: "http", Port: svcPort, Protocol: corev1.ProtocolTCP}}}},
	)
	mk := func(name string, eps ...netip.AddrPort) *discoveryv1.EndpointSlice {
		s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4}
		for _, e := range eps {
			s.Ports = []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(e.Port())), Protocol: ptr(corev1.ProtocolTCP)}}
			s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{e.Addr().String()}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}})
		}
		return s
	}
	// Two slices: one whose backend refuses, one that answers (ports differ
	// per slice, as they may).
	ctx := context.Background()
	_, _ = client.DiscoveryV1().EndpointSlices("ns").Create(ctx, mk("web-a", refused), metav1.CreateOptions{})
	_, _ = client.DiscoveryV1().EndpointSlices("ns").Create(ctx, mk("web-b", good), metav1.CreateOptions{})
	runProxy(t, Config{DialTimeout: time.Second}, client)
	ask := func() (string, error) {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(svcPort))), time.Second)
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write([]byte("x"))
		b, err := io.ReadAll(c)
		return string(b), err
	}
	for i := 0; i < 20; i++ {
		if got, err := ask(); err != nil || got != "good" {
			t.Fatalf("request %d: %q, %v (a refusing backend must be retried on another)", i, got, err)
		}
	}
	// All endpoints gone: connections are accepted and closed.
	_ = client.DiscoveryV1().EndpointSlices("ns").Delete(ctx, "web-b", metav1.DeleteOptions{})
	testutil.Eventually(t, 5*time.Second, "removed endpoint still served", func() error {
		got, _ := ask()
		if got == "" {
			return nil
		}
		return errors.New("removed endpoint still served")
	})
	// The Service goes: its listener closes.
	_ = client.CoreV1().Services("ns").Delete(ctx, "web", metav1.DeleteOptions{})
	testutil.Eventually(t, 5*time.Second, "listener of a deleted Service still open", func() error {
		if _, err := ask(); err != nil {
			return nil
		}
		return errors.New("listener of a deleted Service still open")
	})
}

// TestProxyUDP forwards a client's datagrams to a backend and its replies
// back.
func TestProxyUDP(t *testing.T) {
	backend, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer backend.Close()
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := backend.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = backend.WriteTo(append([]byte("echo "), buf[:n]...), from)
		}
	}()
	free, _ := net.ListenPacket("udp", "127.0.0.1:0")
	svcPort := int32(free.LocalAddr().(*net.UDPAddr).Port)
	free.Close()
	bport := int32(backend.LocalAddr().(*net.UDPAddr).Port)
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dns", Namespace: "ns"},
			Spec: corev1.ServiceSpec{ClusterIP: "127.0.0.1", Ports: []corev1.ServicePort{{Name: "dns", Port: svcPort, Protocol: corev1.ProtocolUDP}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "dns-1", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "dns"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: ptr("dns"), Port: &bport, Protocol: ptr(corev1.ProtocolUDP)}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}}}},
	)
	runProxy(t, Config{}, client)
	c, err := net.Dial("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(svcPort))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 3; i++ {
		_, _ = c.Write([]byte("ping"))
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil || string(buf[:n]) != "echo ping" {
			t.Fatalf("datagram %d: %q, %v", i, buf[:n], err)
		}
	}
}

// An established connection keeps working after its endpoint leaves the
// Service (it drains), while new connections find no backend.
func TestEstablishedConnectionsSurviveEndpointRemoval(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	backend := netip.MustParseAddrPort(ln.Addr().String())
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	svcPort := int32(free.Addr().(*net.TCPAddr).Port)
	free.Close()
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: "ns"},
			Spec: corev1.ServiceSpec{ClusterIP: "127.0.0.1", Ports: []corev1.ServicePort{{Name: "e", Port: svcPort, Protocol: corev1.ProtocolTCP}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "echo-1", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "echo"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: ptr("e"), Port: ptr(int32(backend.Port())), Protocol: ptr(corev1.ProtocolTCP)}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}}}},
	)
	p := runProxy(t, Config{}, client)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(svcPort)))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip := func(msg string) error {
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			return err
		}
		b := make([]byte, len(msg))
		_, err := io.ReadFull(c, b)
		if err == nil && string(b) != msg {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if err := roundTrip("before"); err != nil {
		t.Fatal(err)
	}
	_ = client.DiscoveryV1().EndpointSlices("ns").Delete(context.Background(), "echo-1", metav1.DeleteOptions{})
	testutil.Eventually(t, 5*time.Second, "the endpoint removed", func() error {
		if sp := p.port("127.0.0.1|" + strconv.Itoa(int(svcPort)) + "|TCP"); sp != nil && len(*sp.backends.Load()) == 0 {
			return nil
		}
		return errors.New("still a backend")
	})
	if err := roundTrip("after"); err != nil {
		t.Fatalf("the established connection broke when its endpoint left: %v", err)
	}
}

// A NodePort Service with externalTrafficPolicy Local: its nodePort on
// this node's address reaches only this node's endpoints; its ClusterIP
// every endpoint.
func TestNodePortLocal(t *testing.T) {
	here, there := echo(t, "here"), echo(t, "there")
	free := func() int32 {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		return int32(ln.Addr().(*net.TCPAddr).Port)
	}
	port, nodePort := free(), free()
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort,
			ClusterIP: "127.0.0.1", ClusterIPs: []string{"127.0.0.1"}, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports: []corev1.ServicePort{{Name: "http", Port: port, NodePort: nodePort, Protocol: corev1.ProtocolTCP}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(here.Port())), Protocol: ptr(corev1.ProtocolTCP)}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, NodeName: ptr("node-1")}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-2", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(there.Port())), Protocol: ptr(corev1.ProtocolTCP)}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"127.0.0.1"}, NodeName: ptr("node-2")}}},
	)
	runProxy(t, Config{NodeName: "node-1", NodeAddresses: []netip.Addr{netip.MustParseAddr("127.0.0.2")}}, client)
	ask := func(addr string) string {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err.Error()
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		_, _ = c.Write([]byte("x"))
		b, _ := io.ReadAll(c)
		return string(b)
	}
	seen := map[string]int{}
	for i := 0; i < 20; i++ {
		seen[ask(net.JoinHostPort("127.0.0.2", strconv.Itoa(int(nodePort))))]++
	}
	if seen["here"] != 20 {
		t.Fatalf("the nodePort with policy Local reached %v, want node-1's endpoint only", seen)
	}
	seen = map[string]int{}
	for i := 0; i < 40; i++ {
		seen[ask(net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))]++
	}
	if seen["here"] == 0 || seen["there"] == 0 {
		t.Fatalf("the ClusterIP reached %v, want both endpoints", seen)
	}
}

// The healthCheckNodePort of a LoadBalancer with externalTrafficPolicy
// Local answers as kube-proxy's: 200 with this node's endpoint count while
// it has some, 503 when it has none.
func TestHealthCheckNodePort(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	hc := int32(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	slice := func(node string) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "lb-1", Namespace: "ns", Labels: map[string]string{discoveryv1.LabelServiceName: "lb"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(3000)), Protocol: ptr(corev1.ProtocolTCP)}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"127.244.0.2"}, NodeName: ptr(node)}, {Addresses: []string{"127.244.0.3"}, NodeName: ptr(node)}}}
	}
	client := fake.NewClientset(
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb", Namespace: "ns"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			ClusterIP: "None", ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal, HealthCheckNodePort: hc,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}}},
		slice("node-1"),
	)
	runProxy(t, Config{NodeName: "node-1", NodeAddresses: []netip.Addr{netip.MustParseAddr("127.0.0.2")}}, client)
	url := "http://" + net.JoinHostPort("127.0.0.2", strconv.Itoa(int(hc))) + "/"
	check := func(wantCode, wantLocal int) {
		t.Helper()
		testutil.Eventually(t, 5*time.Second, "health check", func() error {
			resp, err := http.Get(url)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var b healthBody
			if err := json.NewDecoder(resp.Body).Decode(&b); err != nil {
				return err
			}
			if resp.StatusCode != wantCode || b.LocalEndpoints != wantLocal || b.Service.Name != "lb" || b.Service.Namespace != "ns" || !b.ServiceProxyHealthy {
				return fmt.Errorf("%d %+v", resp.StatusCode, b)
			}
			return nil
		})
	}
	check(http.StatusOK, 2)
	if _, err := client.DiscoveryV1().EndpointSlices("ns").Update(context.Background(), slice("node-2"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	check(http.StatusServiceUnavailable, 0)
}
