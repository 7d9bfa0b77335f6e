package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// replicaSetResource is replicasets: its kind, names, strategy (defaults, validation,
// selectable fields) and table.
func replicaSetResource() *Resource {
	return &Resource{
		GVR: gvr("apps", "v1", "replicasets"), Kind: "ReplicaSet", ListKind: "ReplicaSetList", Singular: "replicaset", Namespaced: true,
		ShortNames: []string{"rs"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"},
		New: func() runtime.Object { return &appsv1.ReplicaSet{} }, NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} },
		PrepareForCreate: func(obj runtime.Object) { obj.(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{} },
		Default: func(obj runtime.Object) {
			rs := obj.(*appsv1.ReplicaSet)
			if rs.Spec.Replicas == nil {
				one := int32(1)
				rs.Spec.Replicas = &one
			}
			DefaultPodSpec(&rs.Spec.Template.Spec)
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			rs := obj.(*appsv1.ReplicaSet)
			return validateWorkload(rs.Spec.Replicas, rs.Spec.Selector, &rs.Spec.Template)
		},
		Scale: &ScaleSpec{
			Get: func(obj runtime.Object) (int32, int32, *metav1.LabelSelector) {
				rs := obj.(*appsv1.ReplicaSet)
				return deref(rs.Spec.Replicas, 1), rs.Status.Replicas, rs.Spec.Selector
			},
			Set: func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
		},
		Table: replicaSetTable,
	}
}
