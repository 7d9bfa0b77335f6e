package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, ready bool, labels map[string]string) *corev1.Node {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}}}
}

func TestPick(t *testing.T) {
	nodes := []*corev1.Node{node("a", true, map[string]string{"zone": "x"}), node("b", true, map[string]string{"zone": "y"}), node("down", false, nil)}
	cases := []struct {
		name     string
		selector map[string]string
		load     map[string]int
		want     string
		wantErr  bool
	}{
		{"least loaded", nil, map[string]int{"a": 3, "b": 1}, "b", false},
		{"tie by name", nil, nil, "a", false},
		{"node selector", map[string]string{"zone": "x"}, map[string]int{"a": 9}, "a", false},
		{"nothing fits", map[string]string{"zone": "z"}, nil, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Pick(&corev1.Pod{Spec: corev1.PodSpec{NodeSelector: tc.selector}}, nodes, tc.load)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("Pick = %q %v, want %q", got, err, tc.want)
			}
		})
	}
}
