package podutil

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/klog/v2"
)

// FitsNode reports whether pod may run on n as the scheduler's filters
// decide it: the pod's nodeSelector and required node affinity match the
// node, and the pod tolerates each of its NoSchedule and NoExecute taints
// (the unschedulable taint of a cordoned node among them).
func FitsNode(pod *corev1.Pod, n *corev1.Node) bool {
	for k, v := range pod.Spec.NodeSelector { // each an equality: the label present with that value
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	if !MatchesNodeAffinity(pod, n) {
		return false
	}
	taints := n.Spec.Taints
	if n.Spec.Unschedulable && !slices.ContainsFunc(taints, func(t corev1.Taint) bool { return t.Key == corev1.TaintNodeUnschedulable }) {
		taints = append(slices.Clip(taints), corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule})
	}
	return ToleratesTaints(pod, taints)
}

// ToleratesTaints: pod tolerates every taint that keeps pods away.
func ToleratesTaints(pod *corev1.Pod, taints []corev1.Taint) bool {
	for i := range taints {
		taint := &taints[i]
		if taint.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		if !slices.ContainsFunc(pod.Spec.Tolerations, func(t corev1.Toleration) bool { return t.ToleratesTaint(klog.Background(), taint, true) }) {
			return false
		}
	}
	return true
}

// MatchesNodeAffinity evaluates the pod's
// requiredDuringSchedulingIgnoredDuringExecution node affinity: any term
// matches when all of its label expressions and field expressions
// (metadata.name) do.
func MatchesNodeAffinity(pod *corev1.Pod, n *corev1.Node) bool {
	a := pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if len(term.MatchExpressions)+len(term.MatchFields) == 0 {
			continue // an empty term matches nothing
		}
		if requirementsMatch(term.MatchExpressions, labels.Set(n.Labels)) &&
			requirementsMatch(term.MatchFields, labels.Set{"metadata.name": n.Name}) {
			return true
		}
	}
	return false
}

var nodeSelectorOps = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn: selection.In, corev1.NodeSelectorOpNotIn: selection.NotIn,
	corev1.NodeSelectorOpExists: selection.Exists, corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt: selection.GreaterThan, corev1.NodeSelectorOpLt: selection.LessThan,
}

func requirementsMatch(reqs []corev1.NodeSelectorRequirement, set labels.Set) bool {
	for _, r := range reqs {
		op, ok := nodeSelectorOps[r.Operator]
		if !ok {
			return false
		}
		req, err := labels.NewRequirement(r.Key, op, r.Values)
		if err != nil || !req.Matches(set) {
			return false
		}
	}
	return true
}
