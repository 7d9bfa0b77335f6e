package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// deploymentResource is deployments: its kind, names, strategy (defaults, validation,
// selectable fields) and table.
func deploymentResource() *Resource {
	return &Resource{
		GVR: gvr("apps", "v1", "deployments"), Kind: "Deployment", ListKind: "DeploymentList", Singular: "deployment", Namespaced: true,
		ShortNames: []string{"deploy"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"},
		New: func() runtime.Object { return &appsv1.Deployment{} }, NewList: func() runtime.Object { return &appsv1.DeploymentList{} },
		PrepareForCreate: func(obj runtime.Object) { obj.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{} },
		Default:          func(obj runtime.Object) { DefaultDeployment(obj.(*appsv1.Deployment)) },
		Validate: func(obj runtime.Object) field.ErrorList {
			d := obj.(*appsv1.Deployment)
			return validateWorkload(d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template)
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			d, o := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
			errs := validateWorkload(d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template)
			return append(errs, apivalidation.ValidateImmutableField(d.Spec.Selector, o.Spec.Selector, field.NewPath("spec", "selector"))...)
		},
		Scale: &ScaleSpec{
			Get: func(obj runtime.Object) (int32, int32, *metav1.LabelSelector) {
				d := obj.(*appsv1.Deployment)
				return deref(d.Spec.Replicas, 1), d.Status.Replicas, d.Spec.Selector
			},
			Set: func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
		},
		Table: deploymentTable,
	}
}

// DefaultDeployment applies the apps/v1 Deployment defaults.
func DefaultDeployment(d *appsv1.Deployment) {
	if d.Spec.Replicas == nil {
		one := int32(1)
		d.Spec.Replicas = &one
	}
	if d.Spec.Strategy.Type == "" {
		d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if d.Spec.Strategy.RollingUpdate == nil {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		q := intstr.FromString("25%")
		if d.Spec.Strategy.RollingUpdate.MaxSurge == nil {
			d.Spec.Strategy.RollingUpdate.MaxSurge = &q
		}
		if d.Spec.Strategy.RollingUpdate.MaxUnavailable == nil {
			u := q
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = &u
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		ten := int32(10)
		d.Spec.RevisionHistoryLimit = &ten
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		p := int32(600)
		d.Spec.ProgressDeadlineSeconds = &p
	}
	DefaultPodSpec(&d.Spec.Template.Spec)
}
