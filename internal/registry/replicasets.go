package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// replicaSetResource is replicasets: a workload defaulted as Kubernetes
// defaults it.
func replicaSetResource() *Resource {
	r := workloadResource("replicasets", "ReplicaSet", "rs",
		func() runtime.Object { return &appsv1.ReplicaSet{} }, func() runtime.Object { return &appsv1.ReplicaSetList{} },
		func(obj runtime.Object) workloadFields {
			rs := obj.(*appsv1.ReplicaSet)
			return workloadFields{&rs.Spec.Replicas, rs.Status.Replicas, rs.Spec.Selector, &rs.Spec.Template, func() { rs.Status = appsv1.ReplicaSetStatus{} }}
		})
	r.Default = func(obj runtime.Object) {
		rs := obj.(*appsv1.ReplicaSet)
		if rs.Spec.Replicas == nil {
			one := int32(1)
			rs.Spec.Replicas = &one
		}
		DefaultPodSpec(&rs.Spec.Template.Spec)
	}
	r.Table = replicaSetTable
	return r
}
