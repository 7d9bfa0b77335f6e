package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fake is a Source over slices.
type fake struct {
	roles        []*rbacv1.Role
	clusterRoles []*rbacv1.ClusterRole
	bindings     []*rbacv1.RoleBinding
	clusterBinds []*rbacv1.ClusterRoleBinding
}

func (f *fake) ClusterRoles() []*rbacv1.ClusterRole               { return f.clusterRoles }
func (f *fake) ClusterRoleBindings() []*rbacv1.ClusterRoleBinding { return f.clusterBinds }
func (f *fake) RoleBindings(ns string) []*rbacv1.RoleBinding {
	var out []*rbacv1.RoleBinding
	for _, b := range f.bindings {
		if b.Namespace == ns {
			out = append(out, b)
		}
	}
	return out
}
func (f *fake) Role(ns, name string) *rbacv1.Role {
	for _, r := range f.roles {
		if r.Namespace == ns && r.Name == name {
			return r
		}
	}
	return nil
}
func (f *fake) ClusterRole(name string) *rbacv1.ClusterRole {
	for _, r := range f.clusterRoles {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func rule(verbs []string, group string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{group}, Resources: resources}
}

func subject(kind, name, ns string) rbacv1.Subject {
	s := rbacv1.Subject{Kind: kind, Name: name, Namespace: ns}
	if kind != rbacv1.ServiceAccountKind {
		s.APIGroup = rbacv1.GroupName
	}
	return s
}

func TestAllows(t *testing.T) {
	src := &fake{
		roles: []*rbacv1.Role{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "pod-reader"}, Rules: []rbacv1.PolicyRule{rule([]string{"get", "list"}, "", "pods", "pods/log")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "one-config"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get", "update"}, APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"app"}}}},
		},
		clusterRoles: []*rbacv1.ClusterRole{
			{ObjectMeta: metav1.ObjectMeta{Name: "deployer"}, Rules: []rbacv1.PolicyRule{rule([]string{"*"}, "apps", "deployments", "deployments/*")}},
			{ObjectMeta: metav1.ObjectMeta{Name: "discovery"}, Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/apis", "/apis/*"}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "monitoring"}, AggregationRule: &rbacv1.AggregationRule{ClusterRoleSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"aggregate-to-monitoring": "true"}}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "metrics-part", Labels: map[string]string{"aggregate-to-monitoring": "true"}}, Rules: []rbacv1.PolicyRule{rule([]string{"list"}, "", "endpoints")}},
		},
		bindings: []*rbacv1.RoleBinding{
			{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "a"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "pod-reader"}, Subjects: []rbacv1.Subject{subject(rbacv1.UserKind, "alice", "")}},
			{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "b"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "deployer"}, Subjects: []rbacv1.Subject{subject(rbacv1.GroupKind, "devs", "")}},
			// A ServiceAccount subject without a namespace is the binding's.
			{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "c"}, RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "one-config"}, Subjects: []rbacv1.Subject{subject(rbacv1.ServiceAccountKind, "app", "")}},
		},
		clusterBinds: []*rbacv1.ClusterRoleBinding{
			{ObjectMeta: metav1.ObjectMeta{Name: "d"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "discovery"}, Subjects: []rbacv1.Subject{subject(rbacv1.GroupKind, "system:authenticated", "")}},
			{ObjectMeta: metav1.ObjectMeta{Name: "m"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "monitoring"}, Subjects: []rbacv1.Subject{subject(rbacv1.ServiceAccountKind, "prom", "mon")}},
		},
	}
	alice := User{Name: "alice", Groups: []string{"system:authenticated"}}
	bob := User{Name: "bob", Groups: []string{"devs", "system:authenticated"}}
	app := User{Name: "system:serviceaccount:dev:app"}
	prom := User{Name: "system:serviceaccount:mon:prom"}
	res := func(verb, ns, group, resource, sub, name string) Attributes {
		return Attributes{IsResource: true, Verb: verb, Namespace: ns, APIGroup: group, Resource: resource, Subresource: sub, Name: name}
	}
	for _, tc := range []struct {
		name string
		user User
		a    Attributes
		want bool
	}{
		{"role grants list in its namespace", alice, res("list", "dev", "", "pods", "", ""), true},
		{"role grants a subresource it names", alice, res("get", "dev", "", "pods", "log", "p"), true},
		{"not a verb it grants", alice, res("delete", "dev", "", "pods", "", "p"), false},
		{"not in another namespace", alice, res("list", "prod", "", "pods", "", ""), false},
		{"not cluster-wide", alice, res("list", "", "", "pods", "", ""), false},
		{"not another subresource", alice, res("create", "dev", "", "pods", "exec", "p"), false},
		{"group through a ClusterRole in a RoleBinding", bob, res("patch", "dev", "apps", "deployments", "scale", "d"), true},
		{"wrong group", bob, res("patch", "dev", "", "deployments", "", "d"), false},
		{"resourceNames allow the named object", app, res("update", "dev", "", "configmaps", "", "app"), true},
		{"resourceNames refuse others", app, res("update", "dev", "", "configmaps", "", "other"), false},
		{"resourceNames refuse a list", app, res("list", "dev", "", "configmaps", "", ""), false},
		{"ServiceAccount of another namespace", User{Name: "system:serviceaccount:prod:app"}, res("get", "dev", "", "configmaps", "", "app"), false},
		{"non-resource by wildcard", alice, Attributes{Verb: "get", Path: "/apis/apps/v1"}, true},
		{"non-resource exact", alice, Attributes{Verb: "get", Path: "/apis"}, true},
		{"non-resource not granted", alice, Attributes{Verb: "get", Path: "/metrics"}, false},
		{"non-resource wrong verb", alice, Attributes{Verb: "post", Path: "/apis"}, false},
		{"aggregated ClusterRole", prom, res("list", "anywhere", "", "endpoints", "", ""), true},
		{"aggregated ClusterRole grants no more", prom, res("list", "anywhere", "", "pods", "", ""), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Allows(src, tc.user, tc.a); got != tc.want {
				t.Fatalf("Allows = %v, want %v", got, tc.want)
			}
		})
	}
	resource, nonResource := Rules(src, bob, "dev")
	if len(resource) != 1 || resource[0].Resources[0] != "deployments" || len(nonResource) != 1 {
		t.Fatalf("bob's rules in dev: %v %v", resource, nonResource)
	}
}

func TestForbiddenMessage(t *testing.T) {
	u := User{Name: "bob"}
	for a, want := range map[Attributes]string{
		{IsResource: true, Verb: "delete", Namespace: "default", Resource: "pods"}:                         `User "bob" cannot delete resource "pods" in API group "" in the namespace "default"`,
		{IsResource: true, Verb: "patch", APIGroup: "apps", Resource: "deployments", Subresource: "scale"}: `User "bob" cannot patch resource "deployments/scale" in API group "apps" at the cluster scope`,
		{Verb: "get", Path: "/metrics"}: `User "bob" cannot get path "/metrics"`,
	} {
		if got := Forbidden(u, a); got != want {
			t.Errorf("got %s\nwant %s", got, want)
		}
	}
}
