package registry

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// leaseResource is leases: its kind, names, strategy (defaults, validation,
// selectable fields) and table.
func leaseResource() *Resource {
	return &Resource{
		GVR: gvr("coordination.k8s.io", "v1", "leases"), Kind: "Lease", ListKind: "LeaseList", Singular: "lease", Namespaced: true,
		AllowCreateOnUpdate: true,
		New:                 func() runtime.Object { return &coordinationv1.Lease{} }, NewList: func() runtime.Object { return &coordinationv1.LeaseList{} },
		Table: leaseTable,
	}
}
