package registry

import (
	"fmt"
	"strings"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podDisruptionBudgetResource is policy/v1 poddisruptionbudgets: how many
// of a set of pods voluntary disruptions (evictions, kubectl drain) must
// leave running. The disruption controller fills its status; the pods'
// eviction subresource reads it.
func podDisruptionBudgetResource() *Resource {
	return &Resource{
		GVR: gvr("policy", "v1", "poddisruptionbudgets"), Kind: "PodDisruptionBudget", ListKind: "PodDisruptionBudgetList",
		Singular: "poddisruptionbudget", Namespaced: true, ShortNames: []string{"pdb"}, Subresources: []string{"status"},
		New:     func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		NewList: func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*policyv1.PodDisruptionBudget).Status = policyv1.PodDisruptionBudgetStatus{}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return ValidatePodDisruptionBudgetSpec(&obj.(*policyv1.PodDisruptionBudget).Spec, field.NewPath("spec"))
		},
		Table: pdbTable,
	}
}

// ValidatePodDisruptionBudgetSpec checks what Kubernetes checks: at most
// one of minAvailable and maxUnavailable, each a non-negative number or a
// percentage from 0 to 100%, a valid selector and eviction policy.
func ValidatePodDisruptionBudgetSpec(s *policyv1.PodDisruptionBudgetSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.MinAvailable != nil && s.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(p, s, "minAvailable and maxUnavailable cannot be both set"))
	}
	for name, v := range map[string]*intstr.IntOrString{"minAvailable": s.MinAvailable, "maxUnavailable": s.MaxUnavailable} {
		if v != nil {
			errs = append(errs, validateIntOrPercent(*v, p.Child(name))...)
		}
	}
	if s.Selector != nil {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
	}
	if pol := s.UnhealthyPodEvictionPolicy; pol != nil && *pol != policyv1.IfHealthyBudget && *pol != policyv1.AlwaysAllow {
		errs = append(errs, field.NotSupported(p.Child("unhealthyPodEvictionPolicy"), *pol, []string{string(policyv1.IfHealthyBudget), string(policyv1.AlwaysAllow)}))
	}
	return errs
}

func validateIntOrPercent(v intstr.IntOrString, p *field.Path) field.ErrorList {
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return field.ErrorList{field.Invalid(p, v.IntVal, "must be greater than or equal to 0")}
		}
		return nil
	}
	n, ok := strings.CutSuffix(v.StrVal, "%")
	var pct int
	if _, err := fmt.Sscanf(n, "%d", &pct); !ok || err != nil || fmt.Sprint(pct) != n {
		return field.ErrorList{field.Invalid(p, v.StrVal, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")}
	}
	if pct < 0 || pct > 100 {
		return field.ErrorList{field.Invalid(p, v.StrVal, "must not be greater than 100%")}
	}
	return nil
}

var pdbTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Min Available", "string", "The minimum number of pods that must be available.", 0),
		col("Max Unavailable", "string", "The maximum number of pods that may be unavailable.", 0),
		col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time.", 0),
		ageCol},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		p := obj.(*policyv1.PodDisruptionBudget)
		show := func(v *intstr.IntOrString) string {
			if v == nil {
				return "N/A"
			}
			return v.String()
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, show(p.Spec.MinAvailable), show(p.Spec.MaxUnavailable), int64(p.Status.DisruptionsAllowed), age}
	},
}
