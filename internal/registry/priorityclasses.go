package registry

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The priority classes every cluster has, and the highest value a user's
// class may take.
const (
	HighestUserDefinablePriority = 1000000000
	SystemClusterCritical        = "system-cluster-critical"
	SystemNodeCritical           = "system-node-critical"
)

// SystemPriorityClasses are bootstrapped as kube-apiserver bootstraps them.
func SystemPriorityClasses() []*schedulingv1.PriorityClass {
	mk := func(name string, v int32, desc string) *schedulingv1.PriorityClass {
		return &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: v, Description: desc}
	}
	return []*schedulingv1.PriorityClass{
		mk(SystemNodeCritical, 2000001000, "Used for system critical pods that must not be moved from their current node."),
		mk(SystemClusterCritical, 2000000000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
	}
}

func priorityClassResource() *Resource {
	return &Resource{
		GVR: gvr("scheduling.k8s.io", "v1", "priorityclasses"), Kind: "PriorityClass", ListKind: "PriorityClassList",
		Singular: "priorityclass", ShortNames: []string{"pc"},
		New:     func() runtime.Object { return &schedulingv1.PriorityClass{} },
		NewList: func() runtime.Object { return &schedulingv1.PriorityClassList{} },
		Default: func(obj runtime.Object) {
			pc := obj.(*schedulingv1.PriorityClass)
			if pc.PreemptionPolicy == nil {
				p := corev1.PreemptLowerPriority
				pc.PreemptionPolicy = &p
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			pc := obj.(*schedulingv1.PriorityClass)
			var errs field.ErrorList
			system := pc.Name == SystemClusterCritical || pc.Name == SystemNodeCritical
			if strings.HasPrefix(pc.Name, "system-") && !system {
				errs = append(errs, field.Forbidden(field.NewPath("metadata", "name"), "priority class names with 'system-' prefix are reserved"))
			}
			if !system && pc.Value > HighestUserDefinablePriority {
				errs = append(errs, field.Forbidden(field.NewPath("value"), "maximum allowed value of a user defined priority is 1000000000"))
			}
			if p := *pc.PreemptionPolicy; p != corev1.PreemptLowerPriority && p != corev1.PreemptNever {
				errs = append(errs, field.NotSupported(field.NewPath("preemptionPolicy"), p, []string{"Never", "PreemptLowerPriority"}))
			}
			return errs
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			n, o := obj.(*schedulingv1.PriorityClass), old.(*schedulingv1.PriorityClass)
			var errs field.ErrorList
			if n.Value != o.Value {
				errs = append(errs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
			}
			if *n.PreemptionPolicy != *o.PreemptionPolicy {
				errs = append(errs, field.Invalid(field.NewPath("preemptionPolicy"), *n.PreemptionPolicy, "field is immutable"))
			}
			return errs
		},
		Table: &TableSpec{
			Columns: []metav1.TableColumnDefinition{nameCol,
				col("Value", "integer", "value represents the integer value of this priority class.", 0),
				col("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.", 0),
				ageCol,
				col("PreemptionPolicy", "string", "preemptionPolicy is the Policy for preempting pods with lower priority.", 0)},
			Row: func(obj runtime.Object, now time.Time) []interface{} {
				pc := obj.(*schedulingv1.PriorityClass)
				name, age := nameAge(obj, now)
				pol := ""
				if pc.PreemptionPolicy != nil {
					pol = string(*pc.PreemptionPolicy)
				}
				return []interface{}{name, int64(pc.Value), pc.GlobalDefault, age, pol}
			},
		},
	}
}
