package ingress

import (
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestRouting(t *testing.T) {
	exact, prefix, impl := networkingv1.PathTypeExact, networkingv1.PathTypePrefix, networkingv1.PathTypeImplementationSpecific
	path := func(p string, typ networkingv1.PathType, svc string) networkingv1.HTTPIngressPath {
		return networkingv1.HTTPIngressPath{Path: p, PathType: &typ, Backend: networkingv1.IngressBackend{
			Service: &networkingv1.IngressServiceBackend{Name: svc, Port: networkingv1.ServiceBackendPort{Number: 80}}}}
	}
	rule := func(host string, paths ...networkingv1.HTTPIngressPath) networkingv1.IngressRule {
		return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}}}
	}
	older := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "ns", CreationTimestamp: metav1.NewTime(time.Unix(1, 0))},
		Spec: networkingv1.IngressSpec{
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "fallback", Port: networkingv1.ServiceBackendPort{Name: "http"}}},
			Rules: []networkingv1.IngressRule{
				rule("a.example", path("/", prefix, "a-root"), path("/api", prefix, "a-api"), path("/api/v2", impl, "a-v2"), path("/exact", exact, "a-exact")),
				rule("*.wild.example", path("/", prefix, "wild")),
				rule("", path("/any", prefix, "anyhost")),
			}}}
	newer := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: "other", CreationTimestamp: metav1.NewTime(time.Unix(2, 0))},
		Spec: networkingv1.IngressSpec{
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "later-fallback", Port: networkingv1.ServiceBackendPort{Number: 80}}},
			Rules:          []networkingv1.IngressRule{rule("b.example", path("/", prefix, "b"))}}}
	tbl := build([]*networkingv1.Ingress{newer, older})
	cases := []struct{ host, path, want string }{
		{"a.example", "/", "ns/a-root"},
		{"a.example:8080", "/api", "ns/a-api"},
		{"A.Example", "/api/", "ns/a-api"},
		{"a.example", "/api/users", "ns/a-api"},
		{"a.example", "/apiary", "ns/a-root"}, // element-wise: /api does not match /apiary
		{"a.example", "/api/v2/x", "ns/a-v2"}, // the longest prefix; ImplementationSpecific as Prefix
		{"a.example", "/exact", "ns/a-exact"},
		{"a.example", "/exact/more", "ns/a-root"}, // Exact is exact
		{"x.wild.example", "/", "ns/wild"},
		{"y.x.wild.example", "/", "ns/fallback"}, // a wildcard covers one label
		{"b.example", "/anything", "other/b"},
		{"unknown.example", "/any/thing", "ns/anyhost"},
		{"unknown.example", "/", "ns/fallback"}, // the oldest Ingress's default backend
	}
	for _, tc := range cases {
		b, ok := tbl.match(tc.host, tc.path)
		if got := b.namespace + "/" + b.service; !ok || got != tc.want {
			t.Errorf("%s%s: %s (%v), want %s", tc.host, tc.path, got, ok, tc.want)
		}
	}
	if _, ok := build(nil).match("a", "/"); ok {
		t.Error("an empty table matched")
	}
}
