package apiserver

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func TestAuthorize(t *testing.T) {
	admin := User{Name: "admin", Groups: []string{"system:masters"}}
	bob := User{Name: "bob", Groups: []string{"dev"}}
	cases := []struct {
		name    string
		user    User
		info    RequestInfo
		allowed bool
		message string
	}{
		{"admin writes", admin, RequestInfo{IsResource: true, Verb: "create", Resource: "pods", Namespace: "default"}, true, ""},
		{"user reads", bob, RequestInfo{IsResource: true, Verb: "list", Resource: "pods", Namespace: "default"}, true, ""},
		{"user watches", bob, RequestInfo{IsResource: true, Verb: "watch", Resource: "services"}, true, ""},
		{"user discovery", bob, RequestInfo{Path: "/apis"}, true, ""},
		{"user deletes", bob, RequestInfo{IsResource: true, Verb: "delete", Resource: "pods", Namespace: "default", Name: "p"}, false,
			`pods "p" is forbidden: User "bob" cannot delete resource "pods" in API group "" in the namespace "default"`},
		{"user scales", bob, RequestInfo{IsResource: true, Verb: "patch", APIGroup: "apps", Resource: "deployments", Subresource: "scale", Namespace: "ns", Name: "d"}, false,
			`cannot patch resource "deployments/scale" in API group "apps"`},
		// A GET that upgrades to a stream into a pod is a write, as in Kubernetes.
		{"user execs with GET", bob, RequestInfo{IsResource: true, Verb: "get", Resource: "pods", Subresource: "exec", Namespace: "default", Name: "p"}, false,
			`User "bob" cannot create resource "pods/exec"`},
		{"user attaches", bob, RequestInfo{IsResource: true, Verb: "create", Resource: "pods", Subresource: "attach", Namespace: "default", Name: "p"}, false,
			`cannot create resource "pods/attach"`},
		{"user reads no secrets", bob, RequestInfo{IsResource: true, Verb: "list", Resource: "secrets", Namespace: "default"}, false,
			`cannot list resource "secrets"`},
		{"admin reads secrets", admin, RequestInfo{IsResource: true, Verb: "get", Resource: "secrets", Namespace: "default", Name: "s"}, true, ""},
		{"user reads logs", bob, RequestInfo{IsResource: true, Verb: "get", Resource: "pods", Subresource: "log", Namespace: "default", Name: "p"}, true, ""},
		{"admin execs", admin, RequestInfo{IsResource: true, Verb: "get", Resource: "pods", Subresource: "exec", Namespace: "default", Name: "p"}, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := authorize(tc.user, tc.info)
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
