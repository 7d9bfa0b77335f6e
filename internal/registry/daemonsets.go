package registry

import (
	"bytes"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// daemonSetResource is apps/v1 daemonsets: a pod on every matching node.
func daemonSetResource() *Resource {
	return &Resource{
		GVR: gvr("apps", "v1", "daemonsets"), Kind: "DaemonSet", ListKind: "DaemonSetList", Singular: "daemonset", Namespaced: true,
		ShortNames: []string{"ds"}, Categories: []string{"all"}, Subresources: []string{"status"},
		New:     func() runtime.Object { return &appsv1.DaemonSet{} },
		NewList: func() runtime.Object { return &appsv1.DaemonSetList{} },
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*appsv1.DaemonSet).Status = appsv1.DaemonSetStatus{}
		},
		Default: func(obj runtime.Object) { DefaultDaemonSet(obj.(*appsv1.DaemonSet)) },
		Validate: func(obj runtime.Object) field.ErrorList {
			return ValidateDaemonSetSpec(&obj.(*appsv1.DaemonSet).Spec, field.NewPath("spec"))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			n, o := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
			errs := ValidateDaemonSetSpec(&n.Spec, field.NewPath("spec"))
			return append(errs, apivalidation.ValidateImmutableField(n.Spec.Selector, o.Spec.Selector, field.NewPath("spec", "selector"))...)
		},
		Table: daemonSetTable,
	}
}

// DefaultDaemonSet applies the apps/v1 DaemonSet defaults: a rolling update
// of one pod at a time, ten revisions kept.
func DefaultDaemonSet(d *appsv1.DaemonSet) {
	if d.Spec.UpdateStrategy.Type == "" {
		d.Spec.UpdateStrategy.Type = appsv1.RollingUpdateDaemonSetStrategyType
	}
	if d.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType {
		if d.Spec.UpdateStrategy.RollingUpdate == nil {
			d.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{}
		}
		ru := d.Spec.UpdateStrategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			one := intstr.FromInt32(1)
			ru.MaxUnavailable = &one
		}
		if ru.MaxSurge == nil {
			zero := intstr.FromInt32(0)
			ru.MaxSurge = &zero
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		ten := int32(10)
		d.Spec.RevisionHistoryLimit = &ten
	}
	DefaultPodSpec(&d.Spec.Template.Spec)
}

// ValidateDaemonSetSpec checks the selector, the template and the update
// strategy as Kubernetes does.
func ValidateDaemonSetSpec(s *appsv1.DaemonSetSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Selector == nil {
		errs = append(errs, field.Required(p.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector, metav1validation.LabelSelectorValidationOptions{}, p.Child("selector"))...)
		if len(s.Selector.MatchLabels)+len(s.Selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(p.Child("selector"), s.Selector, "empty selector is invalid for daemonset"))
		} else if sel, err := metav1.LabelSelectorAsSelector(s.Selector); err == nil && !sel.Matches(labels.Set(s.Template.Labels)) {
			errs = append(errs, field.Invalid(p.Child("template", "metadata", "labels"), s.Template.Labels, "`selector` does not match template `labels`"))
		}
	}
	if rp := s.Template.Spec.RestartPolicy; rp != "Always" {
		errs = append(errs, field.NotSupported(p.Child("template", "spec", "restartPolicy"), rp, []string{"Always"}))
	}
	errs = append(errs, ValidatePodSpec(&s.Template.Spec, p.Child("template", "spec"))...)
	switch t := s.UpdateStrategy.Type; t {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil {
			rp := p.Child("updateStrategy", "rollingUpdate")
			if ru.MaxUnavailable != nil {
				errs = append(errs, validateIntOrPercent(*ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
			}
			if ru.MaxSurge != nil {
				errs = append(errs, validateIntOrPercent(*ru.MaxSurge, rp.Child("maxSurge"))...)
			}
			if isZero(ru.MaxUnavailable) && isZero(ru.MaxSurge) {
				errs = append(errs, field.Invalid(rp.Child("maxUnavailable"), ru.MaxUnavailable.String(), "may not be 0 when `maxSurge` is 0"))
			}
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("updateStrategy", "type"), t, []string{"OnDelete", "RollingUpdate"}))
	}
	return errs
}

func isZero(v *intstr.IntOrString) bool {
	return v != nil && ((v.Type == intstr.Int && v.IntVal == 0) || (v.Type == intstr.String && v.StrVal == "0%"))
}

var daemonSetTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Desired", "integer", "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).", 0),
		col("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.", 0),
		col("Ready", "integer", "numberReady is the number of nodes that should be running the daemon pod and have one or more of the daemon pod running with a Ready Condition.", 0),
		col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod", 0),
		col("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)", 0),
		col("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node.", 0),
		ageCol,
		col("Containers", "string", "Names of each container in the template.", 1),
		col("Images", "string", "Images referenced by each container in the template.", 1),
		col("Selector", "string", "A label query over pods that are managed by the daemon set.", 1)},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		d := obj.(*appsv1.DaemonSet)
		st := d.Status
		c, i := containersImages(d.Spec.Template.Spec.Containers)
		name, age := nameAge(obj, now)
		return []interface{}{name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
			int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable), orNone(labels.SelectorFromSet(d.Spec.Template.Spec.NodeSelector).String()),
			age, c, i, selectorString(d.Spec.Selector)}
	},
}

// controllerRevisionResource is apps/v1 controllerrevisions: the DaemonSet
// (and StatefulSet) templates a rolling update moves between.
func controllerRevisionResource() *Resource {
	return &Resource{
		GVR: gvr("apps", "v1", "controllerrevisions"), Kind: "ControllerRevision", ListKind: "ControllerRevisionList",
		Singular: "controllerrevision", Namespaced: true,
		New:     func() runtime.Object { return &appsv1.ControllerRevision{} },
		NewList: func() runtime.Object { return &appsv1.ControllerRevisionList{} },
		Validate: func(obj runtime.Object) field.ErrorList {
			r := obj.(*appsv1.ControllerRevision)
			if r.Revision < 0 {
				return field.ErrorList{field.Invalid(field.NewPath("revision"), r.Revision, "must be greater than or equal to 0")}
			}
			return nil
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			n, o := obj.(*appsv1.ControllerRevision), old.(*appsv1.ControllerRevision)
			if !bytes.Equal(n.Data.Raw, o.Data.Raw) {
				return field.ErrorList{field.Forbidden(field.NewPath("data"), "field is immutable")}
			}
			return nil
		},
		Table: &TableSpec{
			Columns: []metav1.TableColumnDefinition{nameCol,
				col("Controller", "string", "Controller of the object.", 0),
				col("Revision", "integer", "Revision indicates the revision of the state represented by Data.", 0), ageCol},
			Row: func(obj runtime.Object, now time.Time) []interface{} {
				r := obj.(*appsv1.ControllerRevision)
				ctl := "<none>"
				if ref := metav1.GetControllerOf(r); ref != nil {
					ctl = strings.ToLower(ref.Kind)
					if group, _, ok := strings.Cut(ref.APIVersion, "/"); ok {
						ctl += "." + group
					}
					ctl += "/" + ref.Name
				}
				name, age := nameAge(obj, now)
				return []interface{}{name, ctl, r.Revision, age}
			},
		},
	}
}
