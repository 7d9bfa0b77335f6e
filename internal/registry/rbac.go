package registry

import (
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// RBAC: Roles and ClusterRoles grant verbs on resources; RoleBindings and
// ClusterRoleBindings give them to users, groups and ServiceAccounts. The
// API server (internal/apiserver with internal/rbac) enforces them for
// every identity outside system:masters.

func roleResource(cluster bool) *Resource {
	r := &Resource{
		GVR: gvr(rbacv1.GroupName, "v1", "roles"), Kind: "Role", ListKind: "RoleList", Singular: "role", Namespaced: true,
		New: func() runtime.Object { return &rbacv1.Role{} }, NewList: func() runtime.Object { return &rbacv1.RoleList{} },
		Validate: func(obj runtime.Object) field.ErrorList {
			return validatePolicyRules(obj.(*rbacv1.Role).Rules, false)
		},
		Table:    createdAtTable,
		NameFunc: path.ValidatePathSegmentName,
	}
	if cluster {
		r.GVR.Resource, r.Kind, r.ListKind, r.Singular, r.Namespaced = "clusterroles", "ClusterRole", "ClusterRoleList", "clusterrole", false
		r.New, r.NewList = func() runtime.Object { return &rbacv1.ClusterRole{} }, func() runtime.Object { return &rbacv1.ClusterRoleList{} }
		r.Validate = func(obj runtime.Object) field.ErrorList {
			cr := obj.(*rbacv1.ClusterRole)
			errs := validatePolicyRules(cr.Rules, true)
			if a := cr.AggregationRule; a != nil && len(a.ClusterRoleSelectors) == 0 {
				errs = append(errs, field.Required(field.NewPath("aggregationRule", "clusterRoleSelectors"), "at least one clusterRoleSelector required if aggregationRule is non-nil"))
			}
			return errs
		}
	}
	return r
}

func validatePolicyRules(rules []rbacv1.PolicyRule, cluster bool) field.ErrorList {
	var errs field.ErrorList
	for i, rule := range rules {
		p := field.NewPath("rules").Index(i)
		if len(rule.Verbs) == 0 {
			errs = append(errs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(rule.NonResourceURLs) > 0 {
			if !cluster {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
				errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(rule.APIGroups) == 0 {
			errs = append(errs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(rule.Resources) == 0 {
			errs = append(errs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return errs
}

func roleBindingResource(cluster bool) *Resource {
	r := &Resource{
		GVR: gvr(rbacv1.GroupName, "v1", "rolebindings"), Kind: "RoleBinding", ListKind: "RoleBindingList", Singular: "rolebinding", Namespaced: true,
		New: func() runtime.Object { return &rbacv1.RoleBinding{} }, NewList: func() runtime.Object { return &rbacv1.RoleBindingList{} },
		Default: func(obj runtime.Object) { defaultSubjects(obj.(*rbacv1.RoleBinding).Subjects) },
		Validate: func(obj runtime.Object) field.ErrorList {
			b := obj.(*rbacv1.RoleBinding)
			return validateBinding(b.RoleRef, b.Subjects, false)
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			return validateRoleRefUnchanged(obj.(*rbacv1.RoleBinding).RoleRef, old.(*rbacv1.RoleBinding).RoleRef)
		},
		Table:    bindingTable,
		NameFunc: path.ValidatePathSegmentName,
	}
	if cluster {
		r.GVR.Resource, r.Kind, r.ListKind, r.Singular, r.Namespaced = "clusterrolebindings", "ClusterRoleBinding", "ClusterRoleBindingList", "clusterrolebinding", false
		r.New, r.NewList = func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }, func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} }
		r.Default = func(obj runtime.Object) { defaultSubjects(obj.(*rbacv1.ClusterRoleBinding).Subjects) }
		r.Validate = func(obj runtime.Object) field.ErrorList {
			b := obj.(*rbacv1.ClusterRoleBinding)
			return validateBinding(b.RoleRef, b.Subjects, true)
		}
		r.ValidateUpdate = func(obj, old runtime.Object) field.ErrorList {
			return validateRoleRefUnchanged(obj.(*rbacv1.ClusterRoleBinding).RoleRef, old.(*rbacv1.ClusterRoleBinding).RoleRef)
		}
	}
	return r
}

func defaultSubjects(subjects []rbacv1.Subject) {
	for i := range subjects {
		s := &subjects[i]
		if s.APIGroup == "" && (s.Kind == rbacv1.UserKind || s.Kind == rbacv1.GroupKind) {
			s.APIGroup = rbacv1.GroupName
		}
	}
}

func validateBinding(ref rbacv1.RoleRef, subjects []rbacv1.Subject, cluster bool) field.ErrorList {
	var errs field.ErrorList
	rp := field.NewPath("roleRef")
	if ref.APIGroup != rbacv1.GroupName {
		errs = append(errs, field.NotSupported(rp.Child("apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	kinds := []string{"ClusterRole"}
	if !cluster {
		kinds = append(kinds, "Role")
	}
	if ref.Kind != "ClusterRole" && (cluster || ref.Kind != "Role") {
		errs = append(errs, field.NotSupported(rp.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(rp.Child("name"), ""))
	}
	for i, s := range subjects {
		p := field.NewPath("subjects").Index(i)
		if s.Name == "" {
			errs = append(errs, field.Required(p.Child("name"), ""))
		}
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			if s.APIGroup != "" {
				errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{""}))
			}
			if cluster && s.Namespace == "" {
				errs = append(errs, field.Required(p.Child("namespace"), ""))
			}
		case rbacv1.UserKind, rbacv1.GroupKind:
			if s.APIGroup != rbacv1.GroupName {
				errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind, []string{"ServiceAccount", "User", "Group"}))
		}
	}
	return errs
}

func validateRoleRefUnchanged(n, o rbacv1.RoleRef) field.ErrorList {
	if n != o {
		return field.ErrorList{field.Invalid(field.NewPath("roleRef"), n, "cannot change roleRef")}
	}
	return nil
}

var bindingTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Role", "string", "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.", 0), ageCol,
		col("Users", "string", "Users in the roleBinding", 1),
		col("Groups", "string", "Groups in the roleBinding", 1),
		col("ServiceAccounts", "string", "ServiceAccounts in the roleBinding", 1)},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		var ref rbacv1.RoleRef
		var subjects []rbacv1.Subject
		switch b := obj.(type) {
		case *rbacv1.RoleBinding:
			ref, subjects = b.RoleRef, b.Subjects
		case *rbacv1.ClusterRoleBinding:
			ref, subjects = b.RoleRef, b.Subjects
		}
		var users, groups, sas []string
		for _, s := range subjects {
			switch s.Kind {
			case rbacv1.UserKind:
				users = append(users, s.Name)
			case rbacv1.GroupKind:
				groups = append(groups, s.Name)
			case rbacv1.ServiceAccountKind:
				sas = append(sas, s.Namespace+"/"+s.Name)
			}
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, ref.Kind + "/" + ref.Name, age, strings.Join(users, ", "), strings.Join(groups, ", "), strings.Join(sas, ", ")}
	},
}

// The groups Kubernetes gives every caller.
const (
	AuthenticatedGroup   = "system:authenticated"
	UnauthenticatedGroup = "system:unauthenticated"
)

var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "delete", "deletecollection", "patch", "update"}
)

// BootstrapClusterRoles are the roles kube-apiserver creates: cluster-admin
// and the user-facing admin, edit and view (their rules written out rather
// than aggregated), and the discovery and self-review roles every
// authenticated user is bound to.
func BootstrapClusterRoles() []*rbacv1.ClusterRole {
	rule := func(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
		return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
	}
	viewRules := []rbacv1.PolicyRule{
		rule(readVerbs, "", "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods", "replicationcontrollers",
			"replicationcontrollers/scale", "serviceaccounts", "services", "services/status", "bindings", "events", "limitranges",
			"namespaces/status", "pods/log", "pods/status", "replicationcontrollers/status", "resourcequotas", "resourcequotas/status", "namespaces"),
		rule(readVerbs, "apps", "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
			"replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale", "statefulsets/status"),
		rule(readVerbs, "autoscaling", "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
		rule(readVerbs, "batch", "cronjobs", "cronjobs/status", "jobs", "jobs/status"),
		rule(readVerbs, "policy", "poddisruptionbudgets", "poddisruptionbudgets/status"),
		rule(readVerbs, "networking.k8s.io", "ingresses", "ingresses/status", "networkpolicies"),
		rule(readVerbs, "discovery.k8s.io", "endpointslices"),
	}
	editRules := append([]rbacv1.PolicyRule{
		rule([]string{"create"}, "", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "pods/eviction", "serviceaccounts/token"),
		rule(append(append([]string{}, readVerbs...), writeVerbs...), "", "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy",
			"configmaps", "endpoints", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale", "secrets",
			"serviceaccounts", "services", "services/proxy"),
		rule(writeVerbs, "apps", "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets", "replicasets/scale",
			"statefulsets", "statefulsets/scale"),
		rule(writeVerbs, "autoscaling", "horizontalpodautoscalers"),
		rule(writeVerbs, "batch", "cronjobs", "jobs"),
		rule(writeVerbs, "policy", "poddisruptionbudgets"),
		rule(writeVerbs, "networking.k8s.io", "ingresses", "networkpolicies"),
		rule(writeVerbs, "discovery.k8s.io", "endpointslices"),
	}, viewRules...)
	adminRules := append([]rbacv1.PolicyRule{
		rule(append(append([]string{}, readVerbs...), writeVerbs...), rbacv1.GroupName, "rolebindings", "roles"),
		rule([]string{"create"}, "authorization.k8s.io", "localsubjectaccessreviews"),
	}, editRules...)
	mk := func(name string, rules ...rbacv1.PolicyRule) *rbacv1.ClusterRole {
		return &rbacv1.ClusterRole{ObjectMeta: bootstrapMeta(name), Rules: rules}
	}
	return []*rbacv1.ClusterRole{
		mk("cluster-admin", rbacv1.PolicyRule{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			rbacv1.PolicyRule{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}),
		mk("admin", adminRules...),
		mk("edit", editRules...),
		mk("view", viewRules...),
		mk("system:discovery", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/api", "/api/*", "/apis", "/apis/*",
			"/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"}}),
		mk("system:basic-user", rule([]string{"create"}, "authorization.k8s.io", "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
			rule([]string{"create"}, "authentication.k8s.io", "selfsubjectreviews")),
		mk("system:public-info-viewer", rbacv1.PolicyRule{Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz", "/livez", "/readyz", "/version", "/version/"}}),
	}
}

// BootstrapClusterRoleBindings bind cluster-admin to system:masters and the
// discovery, basic-user and public-info roles to every authenticated user.
func BootstrapClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	mk := func(role string, groups ...string) *rbacv1.ClusterRoleBinding {
		b := &rbacv1.ClusterRoleBinding{ObjectMeta: bootstrapMeta(role),
			RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}}
		for _, g := range groups {
			b.Subjects = append(b.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: g})
		}
		return b
	}
	return []*rbacv1.ClusterRoleBinding{
		mk("cluster-admin", "system:masters"),
		mk("system:discovery", AuthenticatedGroup),
		mk("system:basic-user", AuthenticatedGroup),
		mk("system:public-info-viewer", AuthenticatedGroup, UnauthenticatedGroup),
	}
}

func bootstrapMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"},
		Annotations: map[string]string{"rbac.authorization.kubernetes.io/autoupdate": "true"}}
}
