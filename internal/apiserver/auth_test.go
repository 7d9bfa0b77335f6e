package apiserver

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcnet/svcnet/internal/registry"
)

// bootstrapCache is the RBAC cache as a fresh cluster has it, plus bindings
// of view and edit in namespace dev.
func bootstrapCache() *objectCache {
	c := newObjectCache()
	for _, r := range registry.BootstrapClusterRoles() {
		c.objects["clusterroles"]["/"+r.Name] = r
	}
	for _, b := range registry.BootstrapClusterRoleBindings() {
		c.objects["clusterrolebindings"]["/"+b.Name] = b
	}
	for _, b := range []*rbacv1.RoleBinding{
		{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "viewers"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "viv"}}},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "dev", Name: "editors"}, RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "ed"}}},
	} {
		c.objects["rolebindings"][b.Namespace+"/"+b.Name] = b
	}
	close(c.synced)
	return c
}

func TestAuthorizeWithBootstrapRoles(t *testing.T) {
	s := &Server{cache: bootstrapCache()}
	admin := User{Name: "admin", Groups: []string{"system:masters"}}
	user := func(name string) User { return User{Name: name}.authenticated() }
	cases := []struct {
		name    string
		user    User
		info    RequestInfo
		method  string
		allowed bool
		message string
	}{
		{"admin writes", admin, RequestInfo{IsResource: true, Verb: "create", Resource: "pods", Namespace: "default"}, "POST", true, ""},
		{"admin reads metrics", admin, RequestInfo{Path: "/metrics"}, "GET", true, ""},
		{"anyone authenticated discovers", user("bob"), RequestInfo{Path: "/apis/apps/v1"}, "GET", true, ""},
		{"anyone authenticated reads /version", user("bob"), RequestInfo{Path: "/version"}, "GET", true, ""},
		{"anyone authenticated reviews itself", user("bob"), RequestInfo{IsResource: true, Verb: "create", APIGroup: "authorization.k8s.io", Resource: "selfsubjectaccessreviews"}, "POST", true, ""},
		{"no binding, no pods", user("bob"), RequestInfo{IsResource: true, Verb: "list", Resource: "pods", Namespace: "default"}, "GET", false,
			`pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default"`},
		{"no metrics without a grant", user("bob"), RequestInfo{Path: "/metrics"}, "GET", false, `User "bob" cannot get path "/metrics"`},
		{"view reads pods", user("viv"), RequestInfo{IsResource: true, Verb: "watch", Resource: "pods", Namespace: "dev"}, "GET", true, ""},
		{"view reads logs", user("viv"), RequestInfo{IsResource: true, Verb: "get", Resource: "pods", Subresource: "log", Namespace: "dev", Name: "p"}, "GET", true, ""},
		{"view reads no secrets", user("viv"), RequestInfo{IsResource: true, Verb: "get", Resource: "secrets", Namespace: "dev", Name: "s"}, "GET", false, `cannot get resource "secrets"`},
		{"view only where bound", user("viv"), RequestInfo{IsResource: true, Verb: "list", Resource: "pods", Namespace: "prod"}, "GET", false, `in the namespace "prod"`},
		{"view does not scale", user("viv"), RequestInfo{IsResource: true, Verb: "patch", APIGroup: "apps", Resource: "deployments", Subresource: "scale", Namespace: "dev", Name: "d"}, "PATCH", false,
			`cannot patch resource "deployments/scale" in API group "apps"`},
		// A GET that upgrades to a stream into a pod is a create, as in Kubernetes.
		{"view cannot exec with GET", user("viv"), RequestInfo{IsResource: true, Verb: "get", Resource: "pods", Subresource: "exec", Namespace: "dev", Name: "p"}, "GET", false,
			`User "viv" cannot create resource "pods/exec"`},
		{"edit execs", user("ed"), RequestInfo{IsResource: true, Verb: "get", Resource: "pods", Subresource: "exec", Namespace: "dev", Name: "p"}, "GET", true, ""},
		{"edit port-forwards", user("ed"), RequestInfo{IsResource: true, Verb: "get", Resource: "pods", Subresource: "portforward", Namespace: "dev", Name: "p"}, "GET", true, ""},
		{"edit scales", user("ed"), RequestInfo{IsResource: true, Verb: "patch", APIGroup: "apps", Resource: "deployments", Subresource: "scale", Namespace: "dev", Name: "d"}, "PATCH", true, ""},
		{"edit reads secrets", user("ed"), RequestInfo{IsResource: true, Verb: "list", Resource: "secrets", Namespace: "dev"}, "GET", true, ""},
		{"edit grants no roles", user("ed"), RequestInfo{IsResource: true, Verb: "create", APIGroup: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: "dev"}, "POST", false, `cannot create resource "rolebindings"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.authorize(context.Background(), tc.user, tc.info, tc.method)
			if tc.allowed {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("want Forbidden %q, got %v", tc.message, err)
			}
		})
	}
}
