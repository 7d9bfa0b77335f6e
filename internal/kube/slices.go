package kube

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
)

// ServiceSlicesIndex names the EndpointSlice index by "namespace/service".
const ServiceSlicesIndex = "service"

// IndexSlicesByService indexes an EndpointSlice informer by the Service its
// kubernetes.io/service-name label names, so a controller finds a Service's
// slices without scanning its namespace (a label selector on a lister does:
// with 10,000 Services in a namespace, every sync read every slice). Adding
// it twice is harmless.
func IndexSlicesByService(inf cache.SharedIndexInformer) {
	_ = inf.AddIndexers(cache.Indexers{ServiceSlicesIndex: func(obj interface{}) ([]string, error) {
		s, ok := obj.(*discoveryv1.EndpointSlice)
		if !ok || s.Labels[discoveryv1.LabelServiceName] == "" {
			return nil, nil
		}
		return []string{s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName]}, nil
	}})
}

// ServiceSlices returns the slices of Service ns/name that managedBy
// manages ("": whoever manages them), from an informer indexed by
// IndexSlicesByService.
func ServiceSlices(inf cache.SharedIndexInformer, ns, name, managedBy string) ([]*discoveryv1.EndpointSlice, error) {
	objs, err := inf.GetIndexer().ByIndex(ServiceSlicesIndex, ns+"/"+name)
	if err != nil {
		return nil, err
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if s, ok := o.(*discoveryv1.EndpointSlice); ok && (managedBy == "" || s.Labels[discoveryv1.LabelManagedBy] == managedBy) {
			out = append(out, s)
		}
	}
	return out, nil
}

// StripManagedFields is an informer transform that drops managedFields
// from cached objects, as kube-controller-manager does: no controller reads
// them, they are a large part of every object, and an update that carries
// none keeps the stored ones.
func StripManagedFields(obj interface{}) (interface{}, error) {
	if a, err := meta.Accessor(obj); err == nil && a.GetManagedFields() != nil {
		a.SetManagedFields(nil)
	}
	return obj, nil
}

// ReadyEndpoints are the ready addresses (IP and the slice's port) of
// Service svc's port sp, from an EndpointSlice informer indexed by
// IndexSlicesByService; FQDN slices are left out.
func ReadyEndpoints(inf cache.SharedIndexInformer, svc *corev1.Service, sp *corev1.ServicePort) []netip.AddrPort {
	sls, _ := ServiceSlices(inf, svc.Namespace, svc.Name, "")
	var ready []netip.AddrPort
	for _, sl := range sls {
		port := -1
		for _, p := range sl.Ports {
			if p.Port != nil && (p.Name == nil && sp.Name == "" || p.Name != nil && *p.Name == sp.Name) {
				port = int(*p.Port)
			}
		}
		if port < 0 || sl.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		for _, e := range sl.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			for _, a := range e.Addresses {
				if ip, err := netip.ParseAddr(a); err == nil {
					ready = append(ready, netip.AddrPortFrom(ip, uint16(port)))
				}
			}
		}
	}
	return slices.Compact(ready)
}
