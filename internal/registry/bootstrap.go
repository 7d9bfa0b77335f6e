package registry

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// SystemNamespaces exist on every cluster.
var SystemNamespaces = []string{"default", "kube-system", "kube-public", "kube-node-lease"}

// Bootstrap creates the system namespaces, the default IngressClass
// (svcnet), the default StorageClass (local-path), the system
// PriorityClasses, the bootstrap RBAC roles and bindings, the default/kubernetes Service
// (the first address of the primary service range, port 443) with endpoints
// at the API server's address, and the kube-system/kube-dns Service at
// dnsServiceIP (the tenth address, as kubeadm puts it; its endpoints are
// the DNS servers', written by whoever runs them). Objects that exist are
// left as they are, so every server of a cluster may run it. A kube-dns
// address a user's Service already holds leaves the cluster without
// kube-dns, and says so in the returned warning.
func (r *Registry) Bootstrap(ctx context.Context, apiIP netip.Addr, apiPort int32, firstServiceIP, dnsServiceIP netip.Addr) (warning string, err error) {
	if err := r.bootstrapKubernetes(ctx, apiIP, apiPort, firstServiceIP); err != nil {
		return "", err
	}
	if err := r.ensure(ctx, "networking.k8s.io", "ingressclasses", SvcnetIngressClass()); err != nil {
		return "", err
	}
	if err := r.ensure(ctx, "storage.k8s.io", "storageclasses", LocalStorageClass()); err != nil {
		return "", err
	}
	for _, pc := range SystemPriorityClasses() {
		if err := r.ensure(ctx, "scheduling.k8s.io", "priorityclasses", pc); err != nil {
			return "", err
		}
	}
	for _, cr := range BootstrapClusterRoles() {
		if err := r.ensure(ctx, "rbac.authorization.k8s.io", "clusterroles", cr); err != nil {
			return "", err
		}
	}
	for _, b := range BootstrapClusterRoleBindings() {
		if err := r.ensure(ctx, "rbac.authorization.k8s.io", "clusterrolebindings", b); err != nil {
			return "", err
		}
	}
	dns := KubeDNSService(dnsServiceIP)
	if err := r.ensure(ctx, "", "services", dns); apierrors.IsInvalid(err) {
		return fmt.Sprintf("no kube-dns Service: %v", err), nil
	} else if err != nil {
		return "", err
	}
	return "", nil
}

// KubeDNSService is kube-system/kube-dns as kubeadm makes it (its labels,
// ports 53/UDP, 53/TCP and 9153/TCP), without a selector: svcnet's DNS is
// not a pod, so its EndpointSlices are written by the servers that run it.
func KubeDNSService(ip netip.Addr) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-dns", Namespace: metav1.NamespaceSystem,
			Labels:      map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
			Annotations: map[string]string{"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: ip.String(),
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
				{Name: "metrics", Port: 9153, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(9153)},
			},
		},
	}
}

func (r *Registry) bootstrapKubernetes(ctx context.Context, apiIP netip.Addr, apiPort int32, firstServiceIP netip.Addr) error {
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
	// Looked up first: creating a Service that exists would first find its
	// own ClusterIP taken.
	m, _ := meta.Accessor(obj)
	if _, err := r.Get(ctx, res, m.GetNamespace(), m.GetName()); err == nil {
		return nil
	}
	if _, err := r.Create(ctx, res, obj, false); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bootstrap %s: %w", resource, err)
	}
	return nil
}
