package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/svcnet/svcnet/internal/registry"
)

// evictionAttempts bounds the retries of an eviction that lost a race for
// its budget's status.
const evictionAttempts = 5

// errBudget is kube-apiserver's 429 for an eviction a budget refuses;
// kubectl drain waits and tries again.
func errBudget(cause string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: cause})
	return err
}

// serveEviction serves POST pods/NAME/eviction as kube-apiserver does: a
// pod no budget covers (or one not running) is deleted; one a budget covers
// only if the budget allows a disruption now, which it spends (in the
// budget's status, under its resourceVersion) before the pod is deleted.
func (s *Server) serveEviction(rq *request) error {
	if rq.info.Verb != "create" {
		return apierrors.NewMethodNotSupported(schema.GroupResource{Resource: "pods/eviction"}, rq.info.Verb)
	}
	data, err := readBody(rq.r)
	if err != nil {
		return err
	}
	var ev policyv1.Eviction // policy/v1beta1 has the same fields
	if err := s.codecs.decodeInto(rq.r.Header.Get("Content-Type"), data, &ev); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid Eviction: %v", err))
	}
	if ev.Name != "" && ev.Name != rq.info.Name {
		return apierrors.NewBadRequest("name in URL does not match name in Eviction object")
	}
	opts := metav1.DeleteOptions{}
	if ev.DeleteOptions != nil {
		opts = *ev.DeleteOptions
	}
	dopts, err := registryDeleteOptions(opts)
	if err != nil {
		return err
	}
	ctx := rq.r.Context()
	for attempt := 0; ; attempt++ {
		err := s.evict(ctx, rq.res, rq.info.Namespace, rq.info.Name, dopts)
		if apierrors.IsConflict(err) && attempt < evictionAttempts {
			continue // the budget or the pod changed meanwhile: look again
		}
		if err != nil {
			return err
		}
		s.codecs.writeObject(rq.w, rq.out, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess})
		return nil
	}
}

func (s *Server) evict(ctx context.Context, podRes *registry.Resource, ns, name string, o registry.DeleteOptions) error {
	obj, err := s.reg.Get(ctx, podRes, ns, name)
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	// The pod deleted is the pod checked.
	if o.PreconditionRV == "" {
		o.PreconditionRV = pod.ResourceVersion
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed, corev1.PodPending:
		return s.deleteEvicted(ctx, podRes, pod, o) // it disrupts nothing that runs
	}
	if pod.DeletionTimestamp != nil {
		return s.deleteEvicted(ctx, podRes, pod, o)
	}
	pdbRes, ok := s.reg.Resource(schema.GroupResource{Group: "policy", Resource: "poddisruptionbudgets"})
	if !ok {
		return s.deleteEvicted(ctx, podRes, pod, o)
	}
	list, err := s.reg.List(ctx, pdbRes, ns, registry.ListOptions{})
	if err != nil {
		return err
	}
	var budgets []*policyv1.PodDisruptionBudget
	for _, item := range list.Items {
		pdb := item.(*policyv1.PodDisruptionBudget)
		if sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(pod.Labels)) {
			budgets = append(budgets, pdb)
		}
	}
	switch {
	case len(budgets) == 0:
		return s.deleteEvicted(ctx, podRes, pod, o)
	case len(budgets) > 1:
		return apierrors.NewInternalError(errors.New("This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."))
	}
	pdb := budgets[0]
	if pdb.Status.ObservedGeneration < pdb.Generation {
		return errBudget(fmt.Sprintf("The disruption budget %s is still being processed by the server.", pdb.Name))
	}
	if !podReady(pod) {
		// An unhealthy pod: evicting it costs nothing while the budget is
		// met (IfHealthyBudget, the default), or ever (AlwaysAllow).
		pol := pdb.Spec.UnhealthyPodEvictionPolicy
		if pol != nil && *pol == policyv1.AlwaysAllow ||
			pdb.Status.CurrentHealthy >= pdb.Status.DesiredHealthy && pdb.Status.DesiredHealthy > 0 {
			return s.deleteEvicted(ctx, podRes, pod, o)
		}
	}
	if pdb.Status.DisruptionsAllowed <= 0 {
		return errBudget(fmt.Sprintf("The disruption budget %s needs %d healthy pods and has %d currently", pdb.Name, pdb.Status.DesiredHealthy, pdb.Status.CurrentHealthy))
	}
	if !o.DryRun {
		_, err = s.reg.Update(ctx, pdbRes, ns, pdb.Name, func(cur runtime.Object) (runtime.Object, error) {
			b := cur.(*policyv1.PodDisruptionBudget)
			b.Status.DisruptionsAllowed--
			if b.Status.DisruptionsAllowed == 0 {
				apimeta.SetStatusCondition(&b.Status.Conditions, metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
					Reason: policyv1.InsufficientPodsReason, ObservedGeneration: b.Status.ObservedGeneration})
			}
			if b.Status.DisruptedPods == nil {
				b.Status.DisruptedPods = map[string]metav1.Time{}
			}
			b.Status.DisruptedPods[pod.Name] = metav1.NewTime(s.reg.Now())
			return b, nil
		}, registry.UpdateOptions{Subresource: "status", ExpectedRV: pdb.ResourceVersion})
		if err != nil {
			return err
		}
	}
	return s.deleteEvicted(ctx, podRes, pod, o)
}

// deleteEvicted marks the pod as disrupted by the eviction API, as
// Kubernetes does, and deletes it.
func (s *Server) deleteEvicted(ctx context.Context, podRes *registry.Resource, pod *corev1.Pod, o registry.DeleteOptions) error {
	if !o.DryRun && pod.DeletionTimestamp == nil {
		updated, err := s.reg.Update(ctx, podRes, pod.Namespace, pod.Name, func(cur runtime.Object) (runtime.Object, error) {
			p := cur.(*corev1.Pod)
			cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI",
				Message: "Eviction API: evicting", LastTransitionTime: metav1.NewTime(s.reg.Now().Truncate(time.Second))}
			for i := range p.Status.Conditions {
				if p.Status.Conditions[i].Type == corev1.DisruptionTarget {
					p.Status.Conditions[i] = cond
					return p, nil
				}
			}
			p.Status.Conditions = append(p.Status.Conditions, cond)
			return p, nil
		}, registry.UpdateOptions{Subresource: "status", ExpectedRV: o.PreconditionRV})
		if err != nil {
			return err
		}
		o.PreconditionRV = updated.(*corev1.Pod).ResourceVersion
	}
	_, _, err := s.reg.Delete(ctx, podRes, pod.Namespace, pod.Name, o)
	return err
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
