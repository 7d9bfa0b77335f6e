// Package rbac decides requests as Kubernetes' RBAC authorizer does: a
// request is allowed when a rule of a role bound to the user, or to one of
// its groups or (for a ServiceAccount) to itself, covers it — ClusterRoles
// through ClusterRoleBindings anywhere, Roles and ClusterRoles through a
// RoleBinding in the request's namespace. Aggregated ClusterRoles take the
// rules of the ClusterRoles their selectors match. It reads the objects
// from a Source and keeps no state of its own.
package rbac

import (
	"fmt"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Source reads the RBAC objects.
type Source interface {
	ClusterRoles() []*rbacv1.ClusterRole
	ClusterRoleBindings() []*rbacv1.ClusterRoleBinding
	RoleBindings(namespace string) []*rbacv1.RoleBinding
	Role(namespace, name string) *rbacv1.Role
	ClusterRole(name string) *rbacv1.ClusterRole
}

// User is who asks.
type User struct {
	Name   string
	Groups []string
}

// Attributes describe a request, as kube-apiserver's authorizer sees it.
type Attributes struct {
	Verb string
	// Resource requests:
	IsResource  bool
	Namespace   string
	APIGroup    string
	Resource    string
	Subresource string
	Name        string
	// Non-resource requests:
	Path string
}

// serviceAccountPrefix is how a ServiceAccount's user name begins.
const serviceAccountPrefix = "system:serviceaccount:"

// Allows reports whether some binding gives u a rule covering a.
func Allows(src Source, u User, a Attributes) bool {
	for _, b := range src.ClusterRoleBindings() {
		if bindsSubject(b.Subjects, u, "") && rulesAllow(clusterRoleRules(src, b.RoleRef.Name), a) {
			return true
		}
	}
	if a.Namespace == "" {
		return false
	}
	for _, b := range src.RoleBindings(a.Namespace) {
		if bindsSubject(b.Subjects, u, a.Namespace) && rulesAllow(roleRefRules(src, a.Namespace, b.RoleRef), a) {
			return true
		}
	}
	return false
}

// Rules lists the rules that apply to u in namespace (cluster-wide ones
// included), for SelfSubjectRulesReview (`kubectl auth can-i --list`).
func Rules(src Source, u User, namespace string) (resource []rbacv1.PolicyRule, nonResource []rbacv1.PolicyRule) {
	add := func(rules []rbacv1.PolicyRule) {
		for _, r := range rules {
			if len(r.NonResourceURLs) > 0 {
				nonResource = append(nonResource, r)
			} else {
				resource = append(resource, r)
			}
		}
	}
	for _, b := range src.ClusterRoleBindings() {
		if bindsSubject(b.Subjects, u, "") {
			add(clusterRoleRules(src, b.RoleRef.Name))
		}
	}
	if namespace != "" {
		for _, b := range src.RoleBindings(namespace) {
			if bindsSubject(b.Subjects, u, namespace) {
				add(roleRefRules(src, namespace, b.RoleRef))
			}
		}
	}
	return resource, nonResource
}

func roleRefRules(src Source, namespace string, ref rbacv1.RoleRef) []rbacv1.PolicyRule {
	switch ref.Kind {
	case "Role":
		if r := src.Role(namespace, ref.Name); r != nil {
			return r.Rules
		}
	case "ClusterRole":
		return clusterRoleRules(src, ref.Name)
	}
	return nil
}

// clusterRoleRules are a ClusterRole's rules, or for an aggregated one the
// rules of every ClusterRole its selectors match.
func clusterRoleRules(src Source, name string) []rbacv1.PolicyRule {
	cr := src.ClusterRole(name)
	if cr == nil {
		return nil
	}
	if cr.AggregationRule == nil {
		return cr.Rules
	}
	rules := append([]rbacv1.PolicyRule(nil), cr.Rules...)
	for _, sel := range cr.AggregationRule.ClusterRoleSelectors {
		s, err := metav1.LabelSelectorAsSelector(&sel)
		if err != nil || s.Empty() {
			continue
		}
		for _, other := range src.ClusterRoles() {
			if other.Name != cr.Name && other.AggregationRule == nil && s.Matches(labels.Set(other.Labels)) {
				rules = append(rules, other.Rules...)
			}
		}
	}
	return rules
}

// bindsSubject: one of the subjects is u, a group of u, or u's
// ServiceAccount (whose namespace defaults to the binding's).
func bindsSubject(subjects []rbacv1.Subject, u User, bindingNamespace string) bool {
	for _, s := range subjects {
		switch s.Kind {
		case rbacv1.UserKind:
			if s.Name == u.Name {
				return true
			}
		case rbacv1.GroupKind:
			for _, g := range u.Groups {
				if g == s.Name {
					return true
				}
			}
		case rbacv1.ServiceAccountKind:
			ns := s.Namespace
			if ns == "" {
				ns = bindingNamespace
			}
			if u.Name == serviceAccountPrefix+ns+":"+s.Name {
				return true
			}
		}
	}
	return false
}

func rulesAllow(rules []rbacv1.PolicyRule, a Attributes) bool {
	for i := range rules {
		if RuleAllows(&rules[i], a) {
			return true
		}
	}
	return false
}

// RuleAllows: one rule covers the request.
func RuleAllows(r *rbacv1.PolicyRule, a Attributes) bool {
	if !has(r.Verbs, a.Verb) {
		return false
	}
	if !a.IsResource {
		for _, u := range r.NonResourceURLs {
			if u == "*" || u == a.Path || (strings.HasSuffix(u, "*") && strings.HasPrefix(a.Path, strings.TrimSuffix(u, "*"))) {
				return true
			}
		}
		return false
	}
	if !has(r.APIGroups, a.APIGroup) {
		return false
	}
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	matched := false
	for _, x := range r.Resources {
		switch {
		case x == "*" || x == res:
			matched = true
		case strings.HasPrefix(x, "*/") && a.Subresource != "" && x[2:] == a.Subresource:
			matched = true
		case strings.HasSuffix(x, "/*") && a.Subresource != "" && x[:len(x)-2] == a.Resource:
			matched = true
		}
	}
	if !matched {
		return false
	}
	return len(r.ResourceNames) == 0 || (a.Name != "" && has(r.ResourceNames, a.Name))
}

func has(list []string, v string) bool {
	for _, x := range list {
		if x == "*" || x == v {
			return true
		}
	}
	return false
}

// Forbidden is Kubernetes' message for a denied request.
func Forbidden(u User, a Attributes) string {
	if !a.IsResource {
		return fmt.Sprintf("User %q cannot %s path %q", u.Name, a.Verb, a.Path)
	}
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	scope := "at the cluster scope"
	if a.Namespace != "" {
		scope = fmt.Sprintf("in the namespace %q", a.Namespace)
	}
	return fmt.Sprintf("User %q cannot %s resource %q in API group %q %s", u.Name, a.Verb, res, a.APIGroup, scope)
}
