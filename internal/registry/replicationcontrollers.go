package registry

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// replicationControllerResource is core/v1 replicationcontrollers, the
// ReplicaSet's predecessor that older manifests (guestbook-go) still use:
// an equality-based selector defaulted from the template's labels.
func replicationControllerResource() *Resource {
	return &Resource{
		GVR: gvr("", "v1", "replicationcontrollers"), Kind: "ReplicationController", ListKind: "ReplicationControllerList",
		Singular: "replicationcontroller", Namespaced: true, ShortNames: []string{"rc"}, Categories: []string{"all"},
		Subresources: []string{"status", "scale"},
		New:          func() runtime.Object { return &corev1.ReplicationController{} },
		NewList:      func() runtime.Object { return &corev1.ReplicationControllerList{} },
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*corev1.ReplicationController).Status = corev1.ReplicationControllerStatus{}
		},
		Default: func(obj runtime.Object) {
			rc := obj.(*corev1.ReplicationController)
			if rc.Spec.Replicas == nil {
				one := int32(1)
				rc.Spec.Replicas = &one
			}
			if t := rc.Spec.Template; t != nil {
				if len(rc.Spec.Selector) == 0 {
					rc.Spec.Selector = t.Labels
				}
				if len(rc.Labels) == 0 {
					rc.Labels = t.Labels
				}
				DefaultPodSpec(&t.Spec)
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return ValidateReplicationControllerSpec(&obj.(*corev1.ReplicationController).Spec, field.NewPath("spec"))
		},
		Scale: &ScaleSpec{
			Get: func(obj runtime.Object) (int32, int32, *metav1.LabelSelector) {
				rc := obj.(*corev1.ReplicationController)
				return deref(rc.Spec.Replicas, 1), rc.Status.Replicas, &metav1.LabelSelector{MatchLabels: rc.Spec.Selector}
			},
			Set: func(obj runtime.Object, n int32) { obj.(*corev1.ReplicationController).Spec.Replicas = &n },
		},
		Table: replicationControllerTable,
	}
}

// ValidateReplicationControllerSpec checks what Kubernetes checks: a
// non-empty selector that the template's labels match, and the template.
func ValidateReplicationControllerSpec(s *corev1.ReplicationControllerSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Replicas != nil && *s.Replicas < 0 {
		errs = append(errs, field.Invalid(p.Child("replicas"), *s.Replicas, "must be greater than or equal to 0"))
	}
	if s.MinReadySeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("minReadySeconds"), s.MinReadySeconds, "must be greater than or equal to 0"))
	}
	if len(s.Selector) == 0 {
		errs = append(errs, field.Required(p.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabels(s.Selector, p.Child("selector"))...)
	}
	if s.Template == nil {
		return append(errs, field.Required(p.Child("template"), ""))
	}
	if len(s.Selector) > 0 && !labels.SelectorFromSet(s.Selector).Matches(labels.Set(s.Template.Labels)) {
		errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), s.Template.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, metav1validation.ValidateLabels(s.Template.Labels, p.Child("template", "metadata", "labels"))...)
	if rp := s.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(p.Child("template", "spec", "restartPolicy"), rp, []string{string(corev1.RestartPolicyAlways)}))
	}
	return append(errs, ValidatePodSpec(&s.Template.Spec, p.Child("template", "spec"))...)
}

var replicationControllerTable = &TableSpec{
	Columns: workloadColumns(
		col("Desired", "integer", "Replicas is the number of desired replicas.", 0),
		col("Current", "integer", "Replicas is the most recently observed number of replicas.", 0),
		col("Ready", "integer", "The number of ready replicas for this replication controller.", 0)),
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		rc := obj.(*corev1.ReplicationController)
		var c, i string
		if rc.Spec.Template != nil {
			c, i = containersImages(rc.Spec.Template.Spec.Containers)
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, int64(deref(rc.Spec.Replicas, 1)), int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas), age, c, i,
			orNone(labels.SelectorFromSet(rc.Spec.Selector).String())}
	},
}
