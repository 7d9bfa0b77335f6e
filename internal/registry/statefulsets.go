package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// statefulSetResource is statefulsets: its kind, names, strategy (defaults, validation,
// selectable fields) and table.
func statefulSetResource() *Resource {
	return &Resource{
		GVR: gvr("apps", "v1", "statefulsets"), Kind: "StatefulSet", ListKind: "StatefulSetList", Singular: "statefulset", Namespaced: true,
		ShortNames: []string{"sts"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"},
		New: func() runtime.Object { return &appsv1.StatefulSet{} }, NewList: func() runtime.Object { return &appsv1.StatefulSetList{} },
		PrepareForCreate: func(obj runtime.Object) { obj.(*appsv1.StatefulSet).Status = appsv1.StatefulSetStatus{} },
		Default:          func(obj runtime.Object) { DefaultStatefulSet(obj.(*appsv1.StatefulSet)) },
		Validate: func(obj runtime.Object) field.ErrorList {
			s := obj.(*appsv1.StatefulSet)
			return validateWorkload(s.Spec.Replicas, s.Spec.Selector, &s.Spec.Template)
		},
		Scale: &ScaleSpec{
			Get: func(obj runtime.Object) (int32, int32, *metav1.LabelSelector) {
				s := obj.(*appsv1.StatefulSet)
				return deref(s.Spec.Replicas, 1), s.Status.Replicas, s.Spec.Selector
			},
			Set: func(obj runtime.Object, n int32) { obj.(*appsv1.StatefulSet).Spec.Replicas = &n },
		},
		Table: statefulSetTable,
	}
}

// DefaultStatefulSet applies the apps/v1 StatefulSet defaults.
func DefaultStatefulSet(s *appsv1.StatefulSet) {
	if s.Spec.Replicas == nil {
		one := int32(1)
		s.Spec.Replicas = &one
	}
	if s.Spec.PodManagementPolicy == "" {
		s.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if s.Spec.UpdateStrategy.Type == "" {
		s.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
	}
	if s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		if s.Spec.UpdateStrategy.RollingUpdate == nil {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
		if s.Spec.UpdateStrategy.RollingUpdate.Partition == nil {
			zero := int32(0)
			s.Spec.UpdateStrategy.RollingUpdate.Partition = &zero
		}
	}
	if s.Spec.RevisionHistoryLimit == nil {
		ten := int32(10)
		s.Spec.RevisionHistoryLimit = &ten
	}
	if s.Spec.PersistentVolumeClaimRetentionPolicy == nil {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		}
	}
	DefaultPodSpec(&s.Spec.Template.Spec)
}
