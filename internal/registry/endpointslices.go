package registry

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// endpointSliceResource is endpointslices: its kind, names, strategy (defaults, validation,
// selectable fields) and table.
func endpointSliceResource() *Resource {
	return &Resource{
		GVR: gvr("discovery.k8s.io", "v1", "endpointslices"), Kind: "EndpointSlice", ListKind: "EndpointSliceList", Singular: "endpointslice", Namespaced: true,
		New: func() runtime.Object { return &discoveryv1.EndpointSlice{} }, NewList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		Default: func(obj runtime.Object) {
			s := obj.(*discoveryv1.EndpointSlice)
			for i := range s.Ports {
				if s.Ports[i].Protocol == nil {
					tcp := corev1.ProtocolTCP
					s.Ports[i].Protocol = &tcp
				}
			}
		},
		Validate: validateEndpointSlice,
		Table:    endpointSliceTable,
	}
}

func validateEndpointSlice(obj runtime.Object) field.ErrorList {
	s := obj.(*discoveryv1.EndpointSlice)
	var errs field.ErrorList
	switch s.AddressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	default:
		errs = append(errs, field.NotSupported(field.NewPath("addressType"), s.AddressType, []string{"IPv4", "IPv6", "FQDN"}))
	}
	if len(s.Endpoints) > 1000 {
		errs = append(errs, field.TooMany(field.NewPath("endpoints"), len(s.Endpoints), 1000))
	}
	for i, ep := range s.Endpoints {
		ep0 := field.NewPath("endpoints").Index(i)
		if len(ep.Addresses) == 0 || len(ep.Addresses) > 100 {
			errs = append(errs, field.Invalid(ep0.Child("addresses"), len(ep.Addresses), "must contain between 1 and 100 addresses"))
		}
		for j, a := range ep.Addresses {
			ap := ep0.Child("addresses").Index(j)
			switch s.AddressType {
			case discoveryv1.AddressTypeIPv4:
				if !isIPv(a, 4) {
					errs = append(errs, field.Invalid(ap, a, "must be a valid IPv4 address"))
				}
			case discoveryv1.AddressTypeIPv6:
				if !isIPv(a, 6) {
					errs = append(errs, field.Invalid(ap, a, "must be a valid IPv6 address"))
				}
			case discoveryv1.AddressTypeFQDN:
				for _, msg := range validation.IsFullyQualifiedDomainName(ap, a) {
					errs = append(errs, msg)
				}
			}
		}
		if ep.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*ep.Hostname) {
				errs = append(errs, field.Invalid(ep0.Child("hostname"), *ep.Hostname, msg))
			}
		}
	}
	for i, p := range s.Ports {
		pp := field.NewPath("ports").Index(i)
		if p.Port != nil {
			for _, msg := range validation.IsInRange(int(*p.Port), 0, 65535) {
				errs = append(errs, field.Invalid(pp.Child("port"), *p.Port, msg))
			}
		}
		if p.Name != nil && *p.Name != "" {
			for _, msg := range validation.IsDNS1123Label(*p.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), *p.Name, msg))
			}
		}
		if p.Protocol != nil {
			errs = append(errs, validateProtocol(*p.Protocol, pp.Child("protocol"))...)
		}
	}
	return errs
}

func isIPv(s string, v int) bool {
	ip, err := parseAddr(s)
	if err != nil {
		return false
	}
	return (v == 4) == ip.Is4()
}
