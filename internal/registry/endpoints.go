package registry

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// endpointsResource is endpoints: its kind, names, strategy (defaults, validation,
// selectable fields) and table.
func endpointsResource() *Resource {
	return &Resource{
		GVR: gvr("", "v1", "endpoints"), Kind: "Endpoints", ListKind: "EndpointsList", Singular: "endpoints", Namespaced: true,
		ShortNames: []string{"ep"}, AllowCreateOnUpdate: true,
		New: func() runtime.Object { return &corev1.Endpoints{} }, NewList: func() runtime.Object { return &corev1.EndpointsList{} },
		Default: func(obj runtime.Object) {
			e := obj.(*corev1.Endpoints)
			for i := range e.Subsets {
				for j := range e.Subsets[i].Ports {
					if e.Subsets[i].Ports[j].Protocol == "" {
						e.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
					}
				}
			}
		},
		Validate: validateEndpoints,
		Table:    endpointsTable,
	}
}

func validateEndpoints(obj runtime.Object) field.ErrorList {
	e := obj.(*corev1.Endpoints)
	var errs field.ErrorList
	for i, ss := range e.Subsets {
		sp := field.NewPath("subsets").Index(i)
		for j, a := range append(append([]corev1.EndpointAddress{}, ss.Addresses...), ss.NotReadyAddresses...) {
			for _, msg := range validation.IsValidIP(sp.Child("addresses").Index(j).Child("ip"), a.IP) {
				errs = append(errs, msg)
			}
		}
		for j, p := range ss.Ports {
			for _, msg := range validation.IsValidPortNum(int(p.Port)) {
				errs = append(errs, field.Invalid(sp.Child("ports").Index(j).Child("port"), p.Port, msg))
			}
		}
	}
	return errs
}
