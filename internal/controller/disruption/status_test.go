package disruption

import (
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestNeeds(t *testing.T) {
	i, pct := intstr.FromInt32, intstr.FromString
	ptr := func(v intstr.IntOrString) *intstr.IntOrString { return &v }
	scale := func() (int32, error) { return 10, nil }
	cases := []struct {
		name       string
		spec       policyv1.PodDisruptionBudgetSpec
		pods       int
		want       Counts
		scaleFails bool
		wantErr    bool
	}{
		{"minAvailable 2 of the pods there", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(i(2))}, 4, Counts{Expected: 4, DesiredHealthy: 2}, false, false},
		{"minAvailable 50% of the scale, rounded up", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(pct("55%"))}, 4, Counts{Expected: 10, DesiredHealthy: 6}, false, false},
		{"maxUnavailable 1", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(i(1))}, 4, Counts{Expected: 10, DesiredHealthy: 9}, false, false},
		{"maxUnavailable 25%, rounded up", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(pct("25%"))}, 4, Counts{Expected: 10, DesiredHealthy: 7}, false, false},
		{"maxUnavailable over the scale", policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr(i(20))}, 4, Counts{Expected: 10, DesiredHealthy: 0}, false, false},
		{"an unmanaged pod under a percentage", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(pct("50%"))}, 4, Counts{}, true, true},
		{"an unmanaged pod under an integer is fine", policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(i(1))}, 1, Counts{Expected: 1, DesiredHealthy: 1}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := scale
			if tc.scaleFails {
				s = func() (int32, error) { return 0, errors.New("found no controllers") }
			}
			got, err := Needs(&policyv1.PodDisruptionBudget{Spec: tc.spec}, tc.pods, s)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("Needs = %+v, %v; want %+v (err %v)", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestStatus(t *testing.T) {
	now := time.Unix(10_000, 0)
	pod := func(name string, ready bool) *corev1.Pod {
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}}}
	}
	deleting := pod("d", true)
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	pods := []*corev1.Pod{pod("a", true), pod("b", true), pod("c", false), deleting}
	cases := []struct {
		name        string
		disrupted   map[string]metav1.Time
		counts      Counts
		wantHealthy int32
		wantAllowed int32
		wantReason  string
		recheck     bool
	}{
		{"two healthy, one needed", nil, Counts{Expected: 4, DesiredHealthy: 1}, 2, 1, policyv1.SufficientPodsReason, false},
		{"two healthy, two needed", nil, Counts{Expected: 4, DesiredHealthy: 2}, 2, 0, policyv1.InsufficientPodsReason, false},
		{"a pod being evicted does not count", map[string]metav1.Time{"a": metav1.NewTime(now.Add(-time.Minute))}, Counts{Expected: 4, DesiredHealthy: 1}, 1, 0, policyv1.InsufficientPodsReason, true},
		{"an eviction that never happened counts again", map[string]metav1.Time{"a": metav1.NewTime(now.Add(-3 * time.Minute))}, Counts{Expected: 4, DesiredHealthy: 1}, 2, 1, policyv1.SufficientPodsReason, false},
		{"no pods expected: nothing allowed", nil, Counts{}, 2, 0, policyv1.InsufficientPodsReason, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Generation: 3}, Status: policyv1.PodDisruptionBudgetStatus{DisruptedPods: tc.disrupted}}
			st, recheck := Status(pdb, pods, tc.counts, now)
			if st.CurrentHealthy != tc.wantHealthy || st.DisruptionsAllowed != tc.wantAllowed || st.ObservedGeneration != 3 {
				t.Fatalf("status %+v", st)
			}
			c := apimeta.FindStatusCondition(st.Conditions, policyv1.DisruptionAllowedCondition)
			if c == nil || c.Reason != tc.wantReason {
				t.Fatalf("condition %+v, want reason %s", c, tc.wantReason)
			}
			if (recheck != nil) != tc.recheck {
				t.Fatalf("recheck %v, want %v", recheck, tc.recheck)
			}
		})
	}
}
