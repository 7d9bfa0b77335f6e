package registry

import (
	"fmt"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// horizontalPodAutoscalerResource is autoscaling/v2
// horizontalpodautoscalers, stored as Kubernetes validates them. svcnet
// has no metrics pipeline, so nothing acts on them; `kubectl scale` (the
// scale subresource they name) works.
func horizontalPodAutoscalerResource() *Resource {
	return &Resource{
		GVR: gvr("autoscaling", "v2", "horizontalpodautoscalers"), Kind: "HorizontalPodAutoscaler", ListKind: "HorizontalPodAutoscalerList",
		Singular: "horizontalpodautoscaler", Namespaced: true, ShortNames: []string{"hpa"}, Categories: []string{"all"}, Subresources: []string{"status"},
		New:     func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} },
		NewList: func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscalerList{} },
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*autoscalingv2.HorizontalPodAutoscaler).Status = autoscalingv2.HorizontalPodAutoscalerStatus{}
		},
		Default: func(obj runtime.Object) {
			h := obj.(*autoscalingv2.HorizontalPodAutoscaler)
			if h.Spec.MinReplicas == nil {
				one := int32(1)
				h.Spec.MinReplicas = &one
			}
			if len(h.Spec.Metrics) == 0 {
				eighty := int32(80)
				h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: "cpu", Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &eighty}}}}
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return ValidateHorizontalPodAutoscalerSpec(&obj.(*autoscalingv2.HorizontalPodAutoscaler).Spec, field.NewPath("spec"))
		},
		Table: hpaTable,
	}
}

// ValidateHorizontalPodAutoscalerSpec checks the target and the bounds.
func ValidateHorizontalPodAutoscalerSpec(s *autoscalingv2.HorizontalPodAutoscalerSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	ref := p.Child("scaleTargetRef")
	if s.ScaleTargetRef.Kind == "" {
		errs = append(errs, field.Required(ref.Child("kind"), ""))
	}
	if s.ScaleTargetRef.Name == "" {
		errs = append(errs, field.Required(ref.Child("name"), ""))
	}
	if s.MinReplicas != nil && *s.MinReplicas < 1 {
		errs = append(errs, field.Invalid(p.Child("minReplicas"), *s.MinReplicas, "must be greater than or equal to 1"))
	}
	if s.MaxReplicas < 1 {
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), s.MaxReplicas, "must be greater than 0"))
	}
	if s.MinReplicas != nil && s.MaxReplicas < *s.MinReplicas {
		errs = append(errs, field.Invalid(p.Child("maxReplicas"), s.MaxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	for i, m := range s.Metrics {
		mp := p.Child("metrics").Index(i)
		switch m.Type {
		case autoscalingv2.ResourceMetricSourceType:
			if m.Resource == nil {
				errs = append(errs, field.Required(mp.Child("resource"), "must populate information for the given metric source"))
			}
		case autoscalingv2.PodsMetricSourceType, autoscalingv2.ObjectMetricSourceType, autoscalingv2.ExternalMetricSourceType, autoscalingv2.ContainerResourceMetricSourceType:
		default:
			errs = append(errs, field.NotSupported(mp.Child("type"), m.Type, []string{"ContainerResource", "External", "Object", "Pods", "Resource"}))
		}
	}
	return errs
}

var hpaTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Reference", "string", "reference to scaled resource", 0),
		col("Targets", "string", "the target and current metric values", 0),
		col("MinPods", "string", "minReplicas is the lower limit for the number of replicas to which the autoscaler can scale down.", 0),
		col("MaxPods", "integer", "maxReplicas is the upper limit for the number of pods that can be set by the autoscaler.", 0),
		col("Replicas", "integer", "currentReplicas is current number of replicas of pods managed by this autoscaler.", 0),
		ageCol},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		h := obj.(*autoscalingv2.HorizontalPodAutoscaler)
		var targets []string
		for _, m := range h.Spec.Metrics {
			if m.Resource != nil {
				want := "<unknown>"
				switch {
				case m.Resource.Target.AverageUtilization != nil:
					want = fmt.Sprintf("%d%%", *m.Resource.Target.AverageUtilization)
				case m.Resource.Target.AverageValue != nil:
					want = m.Resource.Target.AverageValue.String()
				}
				targets = append(targets, fmt.Sprintf("%s: <unknown>/%s", m.Resource.Name, want))
			} else {
				targets = append(targets, "<unknown>")
			}
		}
		min := "<unset>"
		if h.Spec.MinReplicas != nil {
			min = fmt.Sprint(*h.Spec.MinReplicas)
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, h.Spec.ScaleTargetRef.Kind + "/" + h.Spec.ScaleTargetRef.Name, orNone(strings.Join(targets, ", ")),
			min, int64(h.Spec.MaxReplicas), int64(h.Status.CurrentReplicas), age}
	},
}
