package nodelifecycle

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Unix(10_000, 0)

func readyNode(name string, heartbeat time.Time) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.NewTime(heartbeat)}}}}
}

func lease(renew time.Time) *coordinationv1.Lease {
	r := metav1.NewMicroTime(renew)
	return &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: &r}}
}

func TestTrackerSilence(t *testing.T) {
	const grace = 50 * time.Second
	type step struct {
		at        time.Duration // after t0
		heartbeat time.Duration // the Ready heartbeat the node shows (after t0)
		renew     time.Duration // the Lease's renewTime; -1: no lease
		silent    bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"first seen counts as heard now", []step{{0, -time.Hour, -1, false}, {49 * time.Second, -time.Hour, -1, false}, {51 * time.Second, -time.Hour, -1, true}}},
		{"lease renewals keep it healthy", []step{{0, 0, 0, false}, {40 * time.Second, 0, 40 * time.Second, false}, {80 * time.Second, 0, 80 * time.Second, false}, {131 * time.Second, 0, 80 * time.Second, true}}},
		{"status heartbeats keep it healthy", []step{{0, 0, -1, false}, {45 * time.Second, 45 * time.Second, -1, false}, {90 * time.Second, 90 * time.Second, -1, false}}},
		{"a node's clock does not matter, only change", []step{{0, time.Hour, time.Hour, false}, {60 * time.Second, time.Hour, time.Hour, true}}},
		{"heard again after silence", []step{{0, 0, 0, false}, {60 * time.Second, 0, 0, true}, {61 * time.Second, 0, time.Second, false}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(grace, time.Minute)
			for i, s := range tc.steps {
				var l *coordinationv1.Lease
				if s.renew >= 0 {
					l = lease(t0.Add(s.renew))
				}
				got := tr.silentFor(readyNode("n", t0.Add(s.heartbeat)), l, t0.Add(s.at)) > 0
				if got != s.silent {
					t.Fatalf("step %d (at %s): silent %v, want %v", i, s.at, got, s.silent)
				}
			}
		})
	}
}

func TestTrackerStartupGrace(t *testing.T) {
	tr := newTracker(10*time.Second, time.Minute)
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "new", CreationTimestamp: metav1.NewTime(t0)}}
	if tr.silentFor(n, nil, t0.Add(30*time.Second)) > 0 {
		t.Fatal("a node that never posted its status is silent before its startup grace")
	}
	if tr.silentFor(n, nil, t0.Add(61*time.Second)) <= 0 {
		t.Fatal("a node that never posted its status is not silent after its startup grace")
	}
}

func TestMarkUnknown(t *testing.T) {
	n := readyNode("n", t0)
	n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
		corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse})
	if !markUnknown(n, t0) {
		t.Fatal("nothing changed")
	}
	for _, c := range n.Status.Conditions {
		want := corev1.ConditionUnknown
		if c.Type == corev1.NodeNetworkUnavailable {
			want = corev1.ConditionFalse // the control plane's, not the agent's
		}
		if c.Status != want {
			t.Errorf("%s is %s, want %s", c.Type, c.Status, want)
		}
	}
	if c := readyCondition(n); c.Reason != "NodeStatusUnknown" || c.Message != "Kubelet stopped posting node status." {
		t.Errorf("Ready: %+v", c)
	}
	if markUnknown(n, t0.Add(time.Second)) {
		t.Fatal("marking twice changed something")
	}
	never := &corev1.Node{}
	if !markUnknown(never, t0) || readyCondition(never).Reason != "NodeStatusNeverUpdated" {
		t.Fatalf("a node that never posted: %+v", never.Status.Conditions)
	}
}

func TestDesiredTaints(t *testing.T) {
	withReady := func(s corev1.ConditionStatus, taints ...corev1.Taint) *corev1.Node {
		n := readyNode("n", t0)
		n.Status.Conditions[0].Status = s
		n.Spec.Taints = taints
		return n
	}
	earlier := metav1.NewTime(t0.Add(-time.Minute))
	foreign := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	unreachableNoExec := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier}
	cordoned := withReady(corev1.ConditionTrue)
	cordoned.Spec.Unschedulable = true
	pressure := withReady(corev1.ConditionTrue)
	pressure.Status.Conditions = append(pressure.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeDiskPressure, Status: corev1.ConditionTrue})
	type tn struct {
		key    string
		effect corev1.TaintEffect
	}
	cases := []struct {
		name  string
		node  *corev1.Node
		evict bool
		want  []tn
	}{
		{"ready: none", withReady(corev1.ConditionTrue), true, nil},
		{"ready keeps foreign taints", withReady(corev1.ConditionTrue, foreign), true, []tn{{"dedicated", corev1.TaintEffectNoSchedule}}},
		{"unknown: unreachable both ways", withReady(corev1.ConditionUnknown), true,
			[]tn{{corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule}, {corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute}}},
		{"not ready: not-ready both ways", withReady(corev1.ConditionFalse), true,
			[]tn{{corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule}, {corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute}}},
		{"unknown in a full disruption: no eviction", withReady(corev1.ConditionUnknown, unreachableNoExec), false,
			[]tn{{corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule}}},
		{"back: the taints go, foreign ones stay", withReady(corev1.ConditionTrue, unreachableNoExec, foreign), true, []tn{{"dedicated", corev1.TaintEffectNoSchedule}}},
		{"unreachable swaps to not-ready", withReady(corev1.ConditionFalse, unreachableNoExec), true,
			[]tn{{corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule}, {corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute}}},
		{"cordoned", cordoned, true, []tn{{corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule}}},
		{"disk pressure", pressure, true, []tn{{corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule}}},
		{"new, no Ready condition yet: no taint before its startup grace", &corev1.Node{}, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := desiredTaints(tc.node, tc.evict, t0)
			if len(got) != len(tc.want) {
				t.Fatalf("taints %+v, want %+v", got, tc.want)
			}
			for i, w := range tc.want {
				if got[i].Key != w.key || got[i].Effect != w.effect {
					t.Fatalf("taint %d: %+v, want %+v", i, got[i], w)
				}
				if w.effect == corev1.TaintEffectNoExecute && got[i].TimeAdded == nil {
					t.Errorf("NoExecute taint without timeAdded")
				}
			}
			if !sameTaints(got, desiredTaints(&corev1.Node{Spec: corev1.NodeSpec{Taints: got, Unschedulable: tc.node.Spec.Unschedulable}, Status: tc.node.Status}, tc.evict, t0.Add(time.Hour))) {
				t.Error("not stable: applying the result again changes it")
			}
		})
	}
	// A taint it keeps keeps its timeAdded.
	got := desiredTaints(withReady(corev1.ConditionUnknown, unreachableNoExec), true, t0)
	for _, tt := range got {
		if tt.Effect == corev1.TaintEffectNoExecute && !tt.TimeAdded.Equal(&earlier) {
			t.Errorf("timeAdded %v, want the original %v", tt.TimeAdded, earlier)
		}
	}
}
