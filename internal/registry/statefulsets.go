package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// statefulSetResource is statefulsets: a workload with the StatefulSet
// defaults.
func statefulSetResource() *Resource {
	r := workloadResource("statefulsets", "StatefulSet", "sts",
		func() runtime.Object { return &appsv1.StatefulSet{} }, func() runtime.Object { return &appsv1.StatefulSetList{} },
		func(obj runtime.Object) workloadFields {
			s := obj.(*appsv1.StatefulSet)
			return workloadFields{&s.Spec.Replicas, s.Status.Replicas, s.Spec.Selector, &s.Spec.Template, func() { s.Status = appsv1.StatefulSetStatus{} }}
		})
	r.Default = func(obj runtime.Object) { DefaultStatefulSet(obj.(*appsv1.StatefulSet)) }
	workload := r.Validate
	r.Validate = func(obj runtime.Object) field.ErrorList {
		errs := workload(obj)
		for i, t := range obj.(*appsv1.StatefulSet).Spec.VolumeClaimTemplates {
			errs = append(errs, ValidatePersistentVolumeClaimSpec(&t.Spec, field.NewPath("spec", "volumeClaimTemplates").Index(i).Child("spec"))...)
		}
		return errs
	}
	r.Table = statefulSetTable
	return r
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
	for i := range s.Spec.VolumeClaimTemplates {
		t := &s.Spec.VolumeClaimTemplates[i]
		if t.Spec.VolumeMode == nil {
			fs := corev1.PersistentVolumeFilesystem
			t.Spec.VolumeMode = &fs
		}
		if t.Status.Phase == "" {
			t.Status.Phase = corev1.ClaimPending
		}
	}
	DefaultPodSpec(&s.Spec.Template.Spec)
}
