package registry

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// SystemNamespaces exist on every cluster.
var SystemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// Bootstrap creates the system namespaces and the default/kubernetes Service
// (the first address of the primary service range, port 443) with endpoints
// at the API server's address. Objects that exist are left as they are, so
// every server of a cluster may run it.
func (r *Registry) Bootstrap(ctx context.Context, apiIP netip.Addr, apiPort int32, firstServiceIP netip.Addr) error {
	for _, ns := range SystemNamespaces {
		if err := r.ensure(ctx, "", "namespaces", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: firstServiceIP.String(),
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(apiPort)}},
		},
	}
	if err := r.ensure(ctx, "", "services", svc); err != nil {
		return err
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: apiIP.String()}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: apiPort, Protocol: corev1.ProtocolTCP}},
		}},
	}
	if err := r.ensure(ctx, "", "endpoints", ep); err != nil {
		return err
	}
	ready, name, proto := true, "https", corev1.ProtocolTCP
	addrType := discoveryv1.AddressTypeIPv4
	if apiIP.Is6() {
		addrType = discoveryv1.AddressTypeIPv6
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{discoveryv1.LabelServiceName: "kubernetes"}},
		AddressType: addrType,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{apiIP.String()}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &apiPort, Protocol: &proto}},
	}
	return r.ensure(ctx, "discovery.k8s.io", "endpointslices", slice)
}

func (r *Registry) ensure(ctx context.Context, group, resource string, obj runtime.Object) error {
	res, ok := r.Resource(schema.GroupResource{Group: group, Resource: resource})
	if !ok {
		return fmt.Errorf("bootstrap: no resource %s", resource)
	}
	if err := r.PrepareCreate(res, obj); err != nil {
		return fmt.Errorf("bootstrap %s: %w", resource, err)
	}
	_, err := r.Create(ctx, res, obj, false)
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bootstrap %s: %w", resource, err)
	}
	return nil
}
