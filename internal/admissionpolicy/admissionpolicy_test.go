package admissionpolicy

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/svcnet/svcnet/internal/registry"
)

func ptr[T any](v T) *T { return &v }

var configMaps = &registry.Resource{GVR: schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Kind: "ConfigMap", Namespaced: true}
var secrets = &registry.Resource{GVR: schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, Kind: "Secret", Namespaced: true}

func rules(ops ...admissionv1.OperationType) []admissionv1.NamedRuleWithOperations {
	return []admissionv1.NamedRuleWithOperations{{RuleWithOperations: admissionv1.RuleWithOperations{Operations: ops,
		Rule: admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}}}}}
}

func mkPolicy(name string, fail admissionv1.FailurePolicyType, exprs ...string) *admissionv1.ValidatingAdmissionPolicy {
	p := &admissionv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{FailurePolicy: &fail,
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: rules(admissionv1.Create, admissionv1.Update)}}}
	for _, e := range exprs {
		p.Spec.Validations = append(p.Spec.Validations, admissionv1.Validation{Expression: e, Message: "no: " + name})
	}
	return p
}

func binding(name, pol string, actions ...admissionv1.ValidationAction) *admissionv1.ValidatingAdmissionPolicyBinding {
	return &admissionv1.ValidatingAdmissionPolicyBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{PolicyName: pol, ValidationActions: actions}}
}

func cm(name string, data map[string]string, lbls map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: lbls}, Data: data}
}

func TestAdmit(t *testing.T) {
	e := New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, obj := range []runtime.Object{
		mkPolicy("small", admissionv1.Fail, "!has(object.data) || size(object.data) <= 2"),
		binding("small", "small", admissionv1.Deny),
		// Updates may not change data.owner.
		mkPolicy("owner", admissionv1.Fail, "oldObject == null || !has(oldObject.data) || !('owner' in oldObject.data) || object.data['owner'] == oldObject.data['owner']"),
		binding("owner", "owner", admissionv1.Deny),
		// Only warns: does not deny.
		mkPolicy("warned", admissionv1.Fail, "false"),
		binding("warned", "warned", admissionv1.Warn),
		// Errors are ignored under Ignore, refused under Fail.
		mkPolicy("ignored", admissionv1.Ignore, "object.data['missing'] == 'x'"),
		binding("ignored", "ignored", admissionv1.Deny),
		mkPolicy("failing", admissionv1.Fail, "object.data['missing'] == 'x'"),
		func() runtime.Object {
			b := binding("failing", "failing", admissionv1.Deny)
			b.Spec.MatchResources = &admissionv1.MatchResources{ResourceRules: rules(admissionv1.Create), ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"strict": "yes"}}}
			return b
		}(),
		// A binding to a policy that does not exist does nothing.
		binding("dangling", "nothing", admissionv1.Deny),
	} {
		e.observe(obj, false)
	}
	for _, tc := range []struct {
		name     string
		res      *registry.Resource
		obj, old runtime.Object
		deny     string
	}{
		{"small create", configMaps, cm("a", map[string]string{"x": "1"}, nil), nil, ""},
		{"too big", configMaps, cm("a", map[string]string{"x": "1", "y": "2", "z": "3"}, nil), nil, "no: small"},
		{"other resource", secrets, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"a": "", "b": "", "c": ""}}, nil, ""},
		{"owner kept", configMaps, cm("a", map[string]string{"owner": "me"}, nil), cm("a", map[string]string{"owner": "me"}, nil), ""},
		{"owner changed", configMaps, cm("a", map[string]string{"owner": "you"}, nil), cm("a", map[string]string{"owner": "me"}, nil), "no: owner"},
		{"selected by the failing binding", configMaps, cm("a", nil, map[string]string{"strict": "yes"}), nil, "resulted in error"},
		{"selected, but an update", configMaps, cm("a", nil, map[string]string{"strict": "yes"}), cm("a", nil, nil), ""},
	} {
		err := e.Admit(tc.res, tc.obj, tc.old)
		switch {
		case tc.deny == "" && err != nil:
			t.Errorf("%s: denied: %v", tc.name, err)
		case tc.deny != "" && (err == nil || !strings.Contains(err.Error(), tc.deny)):
			t.Errorf("%s: %v, want a denial with %q", tc.name, err, tc.deny)
		case tc.deny != "" && (!apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "configmaps \"a\" is forbidden: ValidatingAdmissionPolicy")):
			t.Errorf("%s: %v is not kube-apiserver's 422", tc.name, err)
		}
	}
	// A policy's reason chooses the status.
	p := mkPolicy("forbid", admissionv1.Fail, "false")
	p.Spec.Validations[0].Reason = ptr(metav1.StatusReasonForbidden)
	e.observe(p, false)
	e.observe(binding("forbid", "forbid", admissionv1.Deny), false)
	if err := e.Admit(configMaps, cm("b", nil, nil), nil); !apierrors.IsForbidden(err) {
		t.Fatalf("reason Forbidden: %v", err)
	}
	// Deleted, it no longer acts.
	e.observe(binding("forbid", "forbid"), true)
	if err := e.Admit(configMaps, cm("b", nil, nil), nil); err != nil {
		t.Fatalf("after the binding's deletion: %v", err)
	}
}

func TestValidatePolicy(t *testing.T) {
	res := Resources()[0]
	bad := mkPolicy("bad", admissionv1.Fail, "object.spec.replicas <=", "'a' + 1 == 2", "object.x == 1")
	errs := res.Validate(bad)
	if len(errs) != 2 || errs[0].Field != "spec.validations[0].expression" || errs[1].Field != "spec.validations[1].expression" {
		t.Fatalf("errors %v", errs)
	}
	empty := &admissionv1.ValidatingAdmissionPolicy{ObjectMeta: metav1.ObjectMeta{Name: "e"}}
	if errs := res.Validate(empty); len(errs) != 2 {
		t.Fatalf("empty policy: %v", errs)
	}
	b := Resources()[1]
	if errs := b.Validate(binding("b", "")); len(errs) != 2 {
		t.Fatalf("empty binding: %v", errs)
	}
}
