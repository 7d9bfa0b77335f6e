package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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

func TestPickRespectsCapacity(t *testing.T) {
	full := node("full", true, nil)
	full.Status.Allocatable = corev1.ResourceList{corev1.ResourcePods: *resourceQty(2)}
	free := node("free", true, nil)
	free.Status.Allocatable = corev1.ResourceList{corev1.ResourcePods: *resourceQty(2)}
	got, err := Pick(&corev1.Pod{}, []*corev1.Node{full, free}, map[string]int{"full": 2, "free": 1})
	if err != nil || got != "free" {
		t.Fatalf("Pick = %q %v", got, err)
	}
	if _, err := Pick(&corev1.Pod{}, []*corev1.Node{full}, map[string]int{"full": 2}); err == nil {
		t.Fatal("a full node accepted a pod")
	}
}

func resourceQty(n int64) *resource.Quantity { return resource.NewQuantity(n, resource.DecimalSI) }

func TestPickHonoursTaints(t *testing.T) {
	tainted := func(name string, taints ...corev1.Taint) *corev1.Node {
		n := node(name, true, nil)
		n.Spec.Taints = taints
		return n
	}
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}
	noSchedule := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	prefer := corev1.Taint{Key: "spot", Effect: corev1.TaintEffectPreferNoSchedule}
	cases := []struct {
		name        string
		node        *corev1.Node
		tolerations []corev1.Toleration
		fits        bool
	}{
		{"no taints", tainted("n"), nil, true},
		{"NoExecute not tolerated", tainted("n", unreachable), nil, false},
		{"NoExecute tolerated (for a while)", tainted("n", unreachable),
			[]corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: new(int64)}}, true},
		{"NoSchedule not tolerated", tainted("n", noSchedule), nil, false},
		{"NoSchedule tolerated by value", tainted("n", noSchedule), []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db"}}, true},
		{"NoSchedule, another value", tainted("n", noSchedule), []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "web"}}, false},
		{"tolerate everything", tainted("n", noSchedule, unreachable), []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, true},
		{"PreferNoSchedule does not filter", tainted("n", prefer), nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Pick(&corev1.Pod{Spec: corev1.PodSpec{Tolerations: tc.tolerations}}, []*corev1.Node{tc.node}, nil)
			if fits := err == nil && got == "n"; fits != tc.fits {
				t.Fatalf("Pick = %q %v, want fits=%v", got, err, tc.fits)
			}
		})
	}
}
