package registry

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// LimitRanges and ResourceQuotas are stored as Kubernetes validates them;
// svcnet neither applies their defaults to pods nor enforces them.

func limitRangeResource() *Resource {
	return &Resource{
		GVR: gvr("", "v1", "limitranges"), Kind: "LimitRange", ListKind: "LimitRangeList", Singular: "limitrange", Namespaced: true,
		ShortNames: []string{"limits"},
		New:        func() runtime.Object { return &corev1.LimitRange{} }, NewList: func() runtime.Object { return &corev1.LimitRangeList{} },
		Default: func(obj runtime.Object) {
			// As Kubernetes: a container limit's max (else default) is also
			// its default and default request when those are unset.
			for i := range obj.(*corev1.LimitRange).Spec.Limits {
				l := &obj.(*corev1.LimitRange).Spec.Limits[i]
				if l.Type != corev1.LimitTypeContainer {
					continue
				}
				if l.Default == nil && len(l.Max) > 0 {
					l.Default = l.Max.DeepCopy()
				}
				if l.DefaultRequest == nil && len(l.Default) > 0 {
					l.DefaultRequest = l.Default.DeepCopy()
				}
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return ValidateLimitRangeSpec(&obj.(*corev1.LimitRange).Spec, field.NewPath("spec"))
		},
		Table: createdAtTable,
	}
}

// ValidateLimitRangeSpec checks each limit's type and that min <= default
// request <= default <= max for every resource.
func ValidateLimitRangeSpec(s *corev1.LimitRangeSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, l := range s.Limits {
		lp := p.Child("limits").Index(i)
		switch l.Type {
		case corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim:
		default:
			errs = append(errs, field.NotSupported(lp.Child("type"), l.Type, []string{"Container", "PersistentVolumeClaim", "Pod"}))
		}
		if l.Type != corev1.LimitTypeContainer && (len(l.Default) > 0 || len(l.DefaultRequest) > 0) {
			errs = append(errs, field.Forbidden(lp.Child("default"), "may not be specified when `type` is '"+string(l.Type)+"'"))
		}
		order := []struct {
			name string
			list corev1.ResourceList
		}{{"min", l.Min}, {"defaultRequest", l.DefaultRequest}, {"default", l.Default}, {"max", l.Max}}
		for a := 0; a < len(order); a++ {
			for b := a + 1; b < len(order); b++ {
				for res, lo := range order[a].list {
					if hi, ok := order[b].list[res]; ok && lo.Cmp(hi) > 0 {
						errs = append(errs, field.Invalid(lp.Child(order[a].name).Key(string(res)), lo.String(),
							order[a].name+" value "+lo.String()+" is greater than "+order[b].name+" value "+hi.String()))
					}
				}
			}
		}
		for _, o := range order {
			for res, q := range o.list {
				if q.Sign() < 0 {
					errs = append(errs, field.Invalid(lp.Child(o.name).Key(string(res)), q.String(), "must be greater than or equal to 0"))
				}
			}
		}
	}
	return errs
}

func resourceQuotaResource() *Resource {
	return &Resource{
		GVR: gvr("", "v1", "resourcequotas"), Kind: "ResourceQuota", ListKind: "ResourceQuotaList", Singular: "resourcequota", Namespaced: true,
		ShortNames: []string{"quota"}, Subresources: []string{"status"},
		New: func() runtime.Object { return &corev1.ResourceQuota{} }, NewList: func() runtime.Object { return &corev1.ResourceQuotaList{} },
		PrepareForCreate: func(obj runtime.Object) {
			q := obj.(*corev1.ResourceQuota)
			q.Status = corev1.ResourceQuotaStatus{Hard: q.Spec.Hard.DeepCopy()}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			q := obj.(*corev1.ResourceQuota)
			var errs field.ErrorList
			for res, v := range q.Spec.Hard {
				if v.Sign() < 0 {
					errs = append(errs, field.Invalid(field.NewPath("spec", "hard").Key(string(res)), v.String(), "must be greater than or equal to 0"))
				}
			}
			for i, sc := range q.Spec.Scopes {
				switch sc {
				case corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating, corev1.ResourceQuotaScopeBestEffort,
					corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopePriorityClass, corev1.ResourceQuotaScopeCrossNamespacePodAffinity,
					corev1.ResourceQuotaScopeVolumeAttributesClass:
				default:
					errs = append(errs, field.Invalid(field.NewPath("spec", "scopes").Index(i), sc, "unsupported scope"))
				}
			}
			return errs
		},
		Table: &TableSpec{
			Columns: []metav1.TableColumnDefinition{nameCol, ageCol,
				col("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume.", 0),
				col("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.", 0)},
			Row: func(obj runtime.Object, now time.Time) []interface{} {
				q := obj.(*corev1.ResourceQuota)
				var req, lim []string
				names := make([]string, 0, len(q.Status.Hard))
				for res := range q.Status.Hard {
					names = append(names, string(res))
				}
				sort.Strings(names)
				for _, res := range names {
					hard := q.Status.Hard[corev1.ResourceName(res)]
					used, ok := q.Status.Used[corev1.ResourceName(res)]
					if !ok {
						used = resource.MustParse("0")
					}
					entry := res + ": " + used.String() + "/" + hard.String()
					if strings.HasPrefix(res, "limits.") {
						lim = append(lim, entry)
					} else {
						req = append(req, entry)
					}
				}
				name, age := nameAge(obj, now)
				return []interface{}{name, age, strings.Join(req, ", "), strings.Join(lim, ", ")}
			},
		},
	}
}

// createdAtTable is the table of kinds Kubernetes prints as NAME and
// CREATED AT (LimitRanges, Roles, ClusterRoles).
var createdAtTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Created At", "date", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0)},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		m, _ := obj.(metav1.Object)
		name, _ := nameAge(obj, now)
		return []interface{}{name, m.GetCreationTimestamp().UTC().Format(time.RFC3339)}
	},
}
