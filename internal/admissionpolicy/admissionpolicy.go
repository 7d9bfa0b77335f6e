// Package admissionpolicy serves and enforces ValidatingAdmissionPolicies
// (admissionregistration.k8s.io/v1): the policies and their bindings are
// stored resources whose CEL expressions are compiled with Kubernetes' own
// CEL environment (k8s.io/apiserver/pkg/cel/environment) when written, and
// every create and update the registry validates passes the policies whose
// matchConstraints and binding's matchResources select it: `object`,
// `oldObject` and `request` are bound; a false validation under a Deny
// binding refuses the write with the policy's message and reason. Not
// supported yet: params (paramKind; such a policy is evaluated with
// `params` null), variables, auditAnnotations, matchConditions,
// namespaceSelector (not applied), DELETE and CONNECT operations, the Warn
// and Audit actions (only Deny acts).
package admissionpolicy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/cel-go/cel"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/svcnet/svcnet/internal/registry"
)

var (
	policiesGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicies"}
	bindingsGVR = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingadmissionpolicybindings"}
)

// env is the CEL environment of validations: Kubernetes' base libraries
// and the admission variables.
var env = func() *cel.Env {
	base, err := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()).Env(environment.StoredExpressions)
	if err != nil {
		panic(err)
	}
	e, err := base.Extend(
		cel.Variable("object", cel.DynType), cel.Variable("oldObject", cel.DynType),
		cel.Variable("request", cel.DynType), cel.Variable("params", cel.DynType),
		cel.Variable("namespaceObject", cel.DynType),
	)
	if err != nil {
		panic(err)
	}
	return e
}()

func compile(expr string) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
		return nil, fmt.Errorf("must evaluate to bool, not %s", ast.OutputType())
	}
	return env.Program(ast, cel.CostLimit(1000000), cel.InterruptCheckFrequency(100))
}

// Resources are the policies' and bindings' resources, validated as
// Kubernetes validates them (expressions must compile).
func Resources() []*registry.Resource {
	return []*registry.Resource{
		{
			GVR: policiesGVR, Kind: "ValidatingAdmissionPolicy", ListKind: "ValidatingAdmissionPolicyList",
			Singular: "validatingadmissionpolicy", Categories: []string{"api-extensions"}, Subresources: []string{"status"},
			New:     func() runtime.Object { return &admissionv1.ValidatingAdmissionPolicy{} },
			NewList: func() runtime.Object { return &admissionv1.ValidatingAdmissionPolicyList{} },
			Default: func(obj runtime.Object) {
				p := obj.(*admissionv1.ValidatingAdmissionPolicy)
				if p.Spec.FailurePolicy == nil {
					f := admissionv1.Fail
					p.Spec.FailurePolicy = &f
				}
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				return validatePolicy(obj.(*admissionv1.ValidatingAdmissionPolicy))
			},
		},
		{
			GVR: bindingsGVR, Kind: "ValidatingAdmissionPolicyBinding", ListKind: "ValidatingAdmissionPolicyBindingList",
			Singular: "validatingadmissionpolicybinding", Categories: []string{"api-extensions"},
			New:     func() runtime.Object { return &admissionv1.ValidatingAdmissionPolicyBinding{} },
			NewList: func() runtime.Object { return &admissionv1.ValidatingAdmissionPolicyBindingList{} },
			Validate: func(obj runtime.Object) field.ErrorList {
				b := obj.(*admissionv1.ValidatingAdmissionPolicyBinding)
				var errs field.ErrorList
				if b.Spec.PolicyName == "" {
					errs = append(errs, field.Required(field.NewPath("spec", "policyName"), ""))
				}
				if len(b.Spec.ValidationActions) == 0 {
					errs = append(errs, field.Required(field.NewPath("spec", "validationActions"), "at least one validation action is required"))
				}
				for i, a := range b.Spec.ValidationActions {
					if a != admissionv1.Deny && a != admissionv1.Warn && a != admissionv1.Audit {
						errs = append(errs, field.NotSupported(field.NewPath("spec", "validationActions").Index(i), a, []string{"Audit", "Deny", "Warn"}))
					}
				}
				return errs
			},
		},
	}
}

func validatePolicy(p *admissionv1.ValidatingAdmissionPolicy) field.ErrorList {
	var errs field.ErrorList
	if p.Spec.MatchConstraints == nil || len(p.Spec.MatchConstraints.ResourceRules) == 0 {
		errs = append(errs, field.Required(field.NewPath("spec", "matchConstraints", "resourceRules"), ""))
	}
	if len(p.Spec.Validations) == 0 && len(p.Spec.AuditAnnotations) == 0 {
		errs = append(errs, field.Required(field.NewPath("spec", "validations"), "validations or auditAnnotations must contain at least one item"))
	}
	for i, v := range p.Spec.Validations {
		if _, err := compile(v.Expression); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "validations").Index(i).Child("expression"), v.Expression, "compilation failed: "+err.Error()))
		}
	}
	return errs
}

// policy is a compiled policy.
type policy struct {
	p     *admissionv1.ValidatingAdmissionPolicy
	progs []cel.Program // per validation, nil when it did not compile
}

// Enforcer holds the compiled policies and bindings, kept current by Run.
type Enforcer struct {
	reg *registry.Registry
	log *slog.Logger

	mu       sync.RWMutex
	policies map[string]*policy
	bindings map[string]*admissionv1.ValidatingAdmissionPolicyBinding
}

// New makes an enforcer over the registry's policies and bindings.
func New(reg *registry.Registry, log *slog.Logger) *Enforcer {
	return &Enforcer{reg: reg, log: log, policies: map[string]*policy{}, bindings: map[string]*admissionv1.ValidatingAdmissionPolicyBinding{}}
}

// Sync reads every policy and binding; call it before serving. It returns
// the revision it read at.
func (e *Enforcer) Sync(ctx context.Context) (int64, error) {
	var rev int64
	for _, gvr := range []schema.GroupVersionResource{policiesGVR, bindingsGVR} {
		res, ok := e.reg.ResourceVersion(gvr)
		if !ok {
			return 0, fmt.Errorf("%s not served", gvr.Resource)
		}
		list, err := e.reg.List(ctx, res, "", registry.ListOptions{})
		if err != nil {
			return 0, err
		}
		rev = max(rev, list.Revision)
		for _, obj := range list.Items {
			if obj, err := e.reg.Object(obj); err == nil {
				e.observe(obj, false)
			}
		}
	}
	return rev, nil
}

// Run follows the policies and bindings from rev until ctx ends.
func (e *Enforcer) Run(ctx context.Context, rev int64) error {
	var wg sync.WaitGroup
	for _, gvr := range []schema.GroupVersionResource{policiesGVR, bindingsGVR} {
		res, _ := e.reg.ResourceVersion(gvr)
		wg.Go(func() {
			from := rev
			for ctx.Err() == nil {
				w, err := e.reg.Watch(ctx, res, "", registry.WatchOptions{FromRevision: from})
				if err == nil {
					for ev := range w.Events() {
						if ev.Type == watch.Error {
							break
						}
						obj, err := e.reg.Object(ev.Object)
						if err != nil {
							continue
						}
						if m, err := meta.Accessor(obj); err == nil {
							fmt.Sscan(m.GetResourceVersion(), &from)
						}
						e.observe(obj, ev.Type == watch.Deleted)
					}
					w.Stop()
				}
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
			}
		})
	}
	wg.Wait()
	return nil
}

func (e *Enforcer) observe(obj runtime.Object, deleted bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch o := obj.(type) {
	case *admissionv1.ValidatingAdmissionPolicy:
		if deleted {
			delete(e.policies, o.Name)
			return
		}
		c := &policy{p: o}
		for _, v := range o.Spec.Validations {
			prog, err := compile(v.Expression)
			if err != nil {
				e.log.Warn("validating admission policy expression", "policy", o.Name, "err", err)
			}
			c.progs = append(c.progs, prog)
		}
		e.policies[o.Name] = c
	case *admissionv1.ValidatingAdmissionPolicyBinding:
		if deleted {
			delete(e.bindings, o.Name)
			return
		}
		e.bindings[o.Name] = o
	}
}

// Admit evaluates the policies bound to a write of res (old nil on
// create). It is the registry's admission hook.
func (e *Enforcer) Admit(res *registry.Resource, obj, old runtime.Object) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if len(e.bindings) == 0 {
		return nil
	}
	op := admissionv1.Create
	if old != nil {
		op = admissionv1.Update
	}
	m, _ := meta.Accessor(obj)
	var vars map[string]any
	for _, b := range e.bindings {
		p := e.policies[b.Spec.PolicyName]
		if p == nil || !slices.Contains(b.Spec.ValidationActions, admissionv1.Deny) {
			continue
		}
		if !matches(p.p.Spec.MatchConstraints, res, op, m) || (b.Spec.MatchResources != nil && !matches(b.Spec.MatchResources, res, op, m)) {
			continue
		}
		if vars == nil {
			vars = map[string]any{"object": toMap(obj), "oldObject": nil, "params": nil, "namespaceObject": nil,
				"request": map[string]any{"operation": string(op), "name": m.GetName(), "namespace": m.GetNamespace(),
					"kind":     map[string]any{"group": res.GVR.Group, "version": res.GVR.Version, "kind": res.Kind},
					"resource": map[string]any{"group": res.GVR.Group, "version": res.GVR.Version, "resource": res.GVR.Resource}}}
			if old != nil {
				vars["oldObject"] = toMap(old)
			}
		}
		for i, v := range p.p.Spec.Validations {
			ok, err := eval(p.progs[i], vars)
			if err != nil {
				if p.p.Spec.FailurePolicy != nil && *p.p.Spec.FailurePolicy == admissionv1.Ignore {
					continue
				}
				return denied(res, m.GetName(), p.p.Name, b.Name, fmt.Sprintf("expression '%s' resulted in error: %v", v.Expression, err), nil)
			}
			if !ok {
				msg := v.Message
				if msg == "" {
					msg = fmt.Sprintf("failed expression: %s", strings.TrimSpace(v.Expression))
				}
				return denied(res, m.GetName(), p.p.Name, b.Name, msg, v.Reason)
			}
		}
	}
	return nil
}

func eval(prog cel.Program, vars map[string]any) (bool, error) {
	if prog == nil {
		return false, fmt.Errorf("the expression did not compile")
	}
	out, _, err := prog.Eval(vars)
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the expression did not evaluate to a bool")
	}
	return b, nil
}

// denied is kube-apiserver's refusal: a Forbidden status whose reason and
// code are the validation's (Invalid, 422, unless it names another).
func denied(res *registry.Resource, name, policy, binding, msg string, reason *metav1.StatusReason) error {
	text := fmt.Sprintf("ValidatingAdmissionPolicy '%s' with binding '%s' denied request: %s", policy, binding, msg)
	err := apierrors.NewForbidden(res.GroupResource(), name, errors.New(text))
	r := metav1.StatusReasonInvalid
	if reason != nil && *reason != "" {
		r = *reason
	}
	code, ok := map[metav1.StatusReason]int32{metav1.StatusReasonForbidden: http.StatusForbidden, metav1.StatusReasonUnauthorized: http.StatusUnauthorized,
		metav1.StatusReasonRequestEntityTooLarge: http.StatusRequestEntityTooLarge}[r]
	if !ok {
		code = http.StatusUnprocessableEntity
	}
	err.ErrStatus.Reason, err.ErrStatus.Code = r, code
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Message: text})
	return err
}

func toMap(obj runtime.Object) map[string]any {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil
	}
	return m
}

// matches applies resource rules and selectors to a write.
func matches(mr *admissionv1.MatchResources, res *registry.Resource, op admissionv1.OperationType, m metav1.Object) bool {
	if mr == nil {
		return false
	}
	ruleMatches := func(rules []admissionv1.NamedRuleWithOperations) bool {
		for _, r := range rules {
			if len(r.ResourceNames) > 0 && !slices.Contains(r.ResourceNames, m.GetName()) {
				continue
			}
			if listed(r.Operations, string(op)) && listed(r.APIGroups, res.GVR.Group) && listed(r.APIVersions, res.GVR.Version) && listed(r.Resources, res.GVR.Resource) &&
				scopeMatches(r.Scope, res.Namespaced) {
				return true
			}
		}
		return false
	}
	if !ruleMatches(mr.ResourceRules) || ruleMatches(mr.ExcludeResourceRules) {
		return false
	}
	if mr.ObjectSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(mr.ObjectSelector)
		if err != nil || !sel.Matches(labels.Set(m.GetLabels())) {
			return false
		}
	}
	return true
}

func listed[T ~string](list []T, v string) bool {
	for _, x := range list {
		if string(x) == "*" || string(x) == v {
			return true
		}
	}
	return false
}

func scopeMatches(s *admissionv1.ScopeType, namespaced bool) bool {
	if s == nil || *s == admissionv1.AllScopes {
		return true
	}
	return (*s == admissionv1.NamespacedScope) == namespaced
}
