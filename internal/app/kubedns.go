package app

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/svcnet/svcnet/internal/nodeagent"
)

// dnsServiceOffset: kube-dns takes the tenth address of the service range
// (10.96.0.10), as kubeadm's clusterDNS does.
const dnsServiceOffset = 10

// nthAddr is the address n after prefix's first.
func nthAddr(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a
}

// kubeDNSSlice is the EndpointSlice of kube-system/kube-dns naming one
// server's DNS (dnsAddr, UDP and TCP) and its metrics (metricsAddr, ""
// for none). An address on all interfaces is reached on loopback.
func kubeDNSSlice(name, dnsAddr, metricsAddr string) (*discoveryv1.EndpointSlice, error) {
	host, port, err := splitAddrPort(dnsAddr)
	if err != nil {
		return nil, fmt.Errorf("dns address %q: %w", dnsAddr, err)
	}
	ready, udp, tcp := true, corev1.ProtocolUDP, corev1.ProtocolTCP
	dns, dnsTCP, metrics := "dns", "dns-tcp", "metrics"
	ports := []discoveryv1.EndpointPort{{Name: &dns, Port: &port, Protocol: &udp}, {Name: &dnsTCP, Port: &port, Protocol: &tcp}}
	if metricsAddr != "" {
		if _, mport, err := splitAddrPort(metricsAddr); err == nil {
			ports = append(ports, discoveryv1.EndpointPort{Name: &metrics, Port: &mport, Protocol: &tcp})
		}
	}
	family := discoveryv1.AddressTypeIPv4
	if host.Is6() {
		family = discoveryv1.AddressTypeIPv6
	}
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: metav1.NamespaceSystem, Labels: map[string]string{
			discoveryv1.LabelServiceName: nodeagent.DNSService, discoveryv1.LabelManagedBy: "svcnet-server", "k8s-app": "kube-dns"}},
		AddressType: family,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{host.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       ports,
	}, nil
}

func splitAddrPort(addr string) (netip.Addr, int32, error) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	host, err := netip.ParseAddr(h)
	if err != nil {
		return netip.Addr{}, 0, err
	}
	if host.IsUnspecified() {
		host = netip.MustParseAddr("127.0.0.1")
		if h == "::" {
			host = netip.IPv6Loopback()
		}
	}
	port, err := strconv.ParseInt(p, 10, 32)
	return host, int32(port), err
}

// publishKubeDNS writes (or rewrites) this server's kube-dns EndpointSlice.
func publishKubeDNS(ctx context.Context, client kubernetes.Interface, slice *discoveryv1.EndpointSlice) error {
	slices := client.DiscoveryV1().EndpointSlices(metav1.NamespaceSystem)
	_, err := slices.Create(ctx, slice, metav1.CreateOptions{FieldManager: "svcnet-server"})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur, err := slices.Get(ctx, slice.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	slice.ResourceVersion = cur.ResourceVersion
	_, err = slices.Update(ctx, slice, metav1.UpdateOptions{FieldManager: "svcnet-server"})
	return err
}
