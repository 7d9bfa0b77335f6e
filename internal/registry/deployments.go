package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// deploymentResource is deployments: a workload with the Deployment
// defaults, whose selector may not change.
func deploymentResource() *Resource {
	fields := func(obj runtime.Object) workloadFields {
		d := obj.(*appsv1.Deployment)
		return workloadFields{&d.Spec.Replicas, d.Status.Replicas, d.Spec.Selector, &d.Spec.Template, func() { d.Status = appsv1.DeploymentStatus{} }}
	}
	r := workloadResource("deployments", "Deployment", "deploy",
		func() runtime.Object { return &appsv1.Deployment{} }, func() runtime.Object { return &appsv1.DeploymentList{} }, fields)
	r.Default = func(obj runtime.Object) { DefaultDeployment(obj.(*appsv1.Deployment)) }
	r.ValidateUpdate = func(obj, old runtime.Object) field.ErrorList {
		errs := r.Validate(obj)
		return append(errs, apivalidation.ValidateImmutableField(fields(obj).selector, fields(old).selector, field.NewPath("spec", "selector"))...)
	}
	r.Table = deploymentTable
	return r
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
