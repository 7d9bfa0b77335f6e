package registry

import (
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func TestValidateIngressSpec(t *testing.T) {
	prefix := networkingv1.PathTypePrefix
	bogus := networkingv1.PathType("Regex")
	svc := func(name string, port networkingv1.ServiceBackendPort) networkingv1.IngressBackend {
		return networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: name, Port: port}}
	}
	rule := func(host, path string, typ *networkingv1.PathType, b networkingv1.IngressBackend) networkingv1.IngressRule {
		return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: path, PathType: typ, Backend: b}}}}}
	}
	ok := svc("web", networkingv1.ServiceBackendPort{Number: 80})
	cases := []struct {
		name string
		spec networkingv1.IngressSpec
		want string // "" for valid
	}{
		{"a rule", networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("a.example", "/", &prefix, ok)}}, ""},
		{"a wildcard host", networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("*.example.com", "/", &prefix, ok)}}, ""},
		{"a port by name", networkingv1.IngressSpec{DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Name: "http"}}}}, ""},
		{"nothing", networkingv1.IngressSpec{}, "either `defaultBackend` or `rules` must be specified"},
		{"no pathType", networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("", "/", nil, ok)}}, "spec.rules[0].http.paths[0].pathType"},
		{"an unknown pathType", networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("", "/", &bogus, ok)}}, `Unsupported value: "Regex"`},
		{"a relative path", networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("", "api", &prefix, ok)}}, "must be an absolute path"},
		{"a bad host", networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("a.*.example", "/", &prefix, ok)}}, "spec.rules[0].host"},
		{"no port", networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("", "/", &prefix, svc("web", networkingv1.ServiceBackendPort{}))}}, "a port name or number is required"},
		{"no backend", networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{rule("", "/", &prefix, networkingv1.IngressBackend{})}}, "resource or service backend is required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateIngressSpec(&tc.spec, field.NewPath("spec"))
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				return
			}
			if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("errors %v, want %q", errs, tc.want)
			}
		})
	}
}
