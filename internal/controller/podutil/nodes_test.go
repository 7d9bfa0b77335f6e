package podutil

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestFitsNode(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a", "cores": "8"}}}
	cordoned := node.DeepCopy()
	cordoned.Spec.Unschedulable = true
	tainted := node.DeepCopy()
	tainted.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}}
	affinity := func(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	}
	expr := func(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	field := func(name string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{name}}}}
	}
	tolerateCordon := []corev1.Toleration{{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	for _, tc := range []struct {
		name string
		spec corev1.PodSpec
		node *corev1.Node
		want bool
	}{
		{"no constraints", corev1.PodSpec{}, node, true},
		{"nodeSelector matches", corev1.PodSpec{NodeSelector: map[string]string{"zone": "a"}}, node, true},
		{"nodeSelector misses", corev1.PodSpec{NodeSelector: map[string]string{"zone": "b"}}, node, false},
		{"affinity In", corev1.PodSpec{Affinity: affinity(expr("zone", corev1.NodeSelectorOpIn, "a", "b"))}, node, true},
		{"affinity NotIn", corev1.PodSpec{Affinity: affinity(expr("zone", corev1.NodeSelectorOpNotIn, "a"))}, node, false},
		{"affinity Gt", corev1.PodSpec{Affinity: affinity(expr("cores", corev1.NodeSelectorOpGt, "4"))}, node, true},
		{"affinity Lt", corev1.PodSpec{Affinity: affinity(expr("cores", corev1.NodeSelectorOpLt, "4"))}, node, false},
		{"affinity DoesNotExist", corev1.PodSpec{Affinity: affinity(expr("gpu", corev1.NodeSelectorOpDoesNotExist))}, node, true},
		{"terms are ORed", corev1.PodSpec{Affinity: affinity(expr("zone", corev1.NodeSelectorOpIn, "b"), field("n1"))}, node, true},
		{"matchFields other node", corev1.PodSpec{Affinity: affinity(field("n2"))}, node, false},
		{"empty term matches nothing", corev1.PodSpec{Affinity: affinity(corev1.NodeSelectorTerm{})}, node, false},
		{"cordoned", corev1.PodSpec{}, cordoned, false},
		{"cordon tolerated", corev1.PodSpec{Tolerations: tolerateCordon}, cordoned, true},
		{"taint not tolerated", corev1.PodSpec{}, tainted, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FitsNode(&corev1.Pod{Spec: tc.spec}, tc.node); got != tc.want {
				t.Fatalf("FitsNode = %v, want %v", got, tc.want)
			}
		})
	}
}
