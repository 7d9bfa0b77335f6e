package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// workloadFields are the fields of an apps/v1 workload object that its
// resource's shared strategy reads and writes.
type workloadFields struct {
	replicas      **int32
	statusReplica int32
	selector      *metav1.LabelSelector
	template      *corev1.PodTemplateSpec
	// clearStatus empties the status (a create starts with none).
	clearStatus func()
}

// workloadResource is what Deployments, ReplicaSets and StatefulSets share:
// the apps/v1 group, the `all` category, status and scale subresources, an
// empty status on create, and the workload validation; fields reads one.
func workloadResource(resource, kind, shortName string, newObj, newList func() runtime.Object, fields func(runtime.Object) workloadFields) *Resource {
	return &Resource{
		GVR:  schema.GroupVersionResource{Group: appsv1.GroupName, Version: "v1", Resource: resource},
		Kind: kind, ListKind: kind + "List", Singular: resource[:len(resource)-1], Namespaced: true,
		ShortNames: []string{shortName}, Categories: []string{"all"}, Subresources: []string{"status", "scale"},
		New: newObj, NewList: newList,
		PrepareForCreate: func(obj runtime.Object) { fields(obj).clearStatus() },
		Validate: func(obj runtime.Object) field.ErrorList {
			f := fields(obj)
			return validateWorkload(*f.replicas, f.selector, f.template)
		},
		Scale: &ScaleSpec{
			Get: func(obj runtime.Object) (int32, int32, *metav1.LabelSelector) {
				f := fields(obj)
				return deref(*f.replicas, 1), f.statusReplica, f.selector
			},
			Set: func(obj runtime.Object, n int32) { *fields(obj).replicas = &n },
		},
	}
}

func validateWorkload(replicas *int32, sel *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if replicas != nil && *replicas < 0 {
		errs = append(errs, field.Invalid(spec.Child("replicas"), *replicas, "must be greater than or equal to 0"))
	}
	if sel == nil {
		errs = append(errs, field.Required(spec.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, spec.Child("selector"))...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(spec.Child("selector"), sel, "empty selector is invalid for deployment"))
		} else if s, err := metav1.LabelSelectorAsSelector(sel); err == nil && !s.Matches(labels.Set(tmpl.Labels)) {
			errs = append(errs, field.Invalid(spec.Child("template", "metadata", "labels"), tmpl.Labels, "`selector` does not match template `labels`"))
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(tmpl.Labels, spec.Child("template", "metadata", "labels"))...)
	errs = append(errs, ValidatePodSpec(&tmpl.Spec, spec.Child("template", "spec"))...)
	return errs
}
