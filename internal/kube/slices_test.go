package kube

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

func TestReadyEndpoints(t *testing.T) {
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{}, &discoveryv1.EndpointSlice{}, 0, cache.Indexers{})
	IndexSlicesByService(inf)
	yes, no := true, false
	web, metrics := "web", "metrics"
	p := func(name *string, port int32) discoveryv1.EndpointPort {
		return discoveryv1.EndpointPort{Name: name, Port: &port}
	}
	for _, sl := range []*discoveryv1.EndpointSlice{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "a", Labels: map[string]string{discoveryv1.LabelServiceName: "api"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{p(&web, 3000), p(&metrics, 9090)},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &yes}},
				{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: &no}},
				{Addresses: []string{"10.0.0.3"}}, // unknown readiness counts as ready
			}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "b", Labels: map[string]string{discoveryv1.LabelServiceName: "api"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{p(&web, 3001)},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.4", "not-an-ip"}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "fqdn", Labels: map[string]string{discoveryv1.LabelServiceName: "api"}},
			AddressType: discoveryv1.AddressTypeFQDN, Ports: []discoveryv1.EndpointPort{p(&web, 80)},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"example.com"}}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "other", Name: "c", Labels: map[string]string{discoveryv1.LabelServiceName: "api"}},
			AddressType: discoveryv1.AddressTypeIPv4, Ports: []discoveryv1.EndpointPort{p(&web, 3000)},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.9.9.9"}}}},
	} {
		if err := inf.GetIndexer().Add(sl); err != nil {
			t.Fatal(err)
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "api"}}
	got := ReadyEndpoints(inf, svc, &corev1.ServicePort{Name: "web", Port: 80})
	slices.SortFunc(got, func(a, b netip.AddrPort) int { return a.Compare(b) })
	want := []netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:3000"), netip.MustParseAddrPort("10.0.0.3:3000"), netip.MustParseAddrPort("10.0.0.4:3001")}
	if !slices.Equal(got, want) {
		t.Fatalf("ready endpoints %v, want %v", got, want)
	}
	if got := ReadyEndpoints(inf, svc, &corev1.ServicePort{Name: "admin", Port: 81}); len(got) != 0 {
		t.Fatalf("a port no slice has: %v", got)
	}
}
