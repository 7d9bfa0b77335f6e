package tainteviction

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestEvictionTime(t *testing.T) {
	t0 := time.Unix(10_000, 0)
	added := metav1.NewTime(t0)
	secs := func(n int64) *int64 { return &n }
	unreachable := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	notReady := corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute, TimeAdded: &added}
	noSchedule := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
	tol := func(key string, s *int64) corev1.Toleration {
		return corev1.Toleration{Key: key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: s}
	}
	cases := []struct {
		name        string
		taints      []corev1.Taint
		tolerations []corev1.Toleration
		evict       bool
		after       time.Duration // from t0
	}{
		{"no taints", nil, nil, false, 0},
		{"NoSchedule only", []corev1.Taint{noSchedule}, nil, false, 0},
		{"not tolerated: at once", []corev1.Taint{unreachable}, nil, true, 0},
		{"the default 300s", []corev1.Taint{unreachable}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300))}, true, 300 * time.Second},
		{"tolerated forever", []corev1.Taint{unreachable}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, false, 0},
		{"the shortest toleration wins", []corev1.Taint{unreachable}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300)), tol("", secs(5))}, true, 5 * time.Second},
		{"one of two taints not tolerated", []corev1.Taint{unreachable, notReady}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(300))}, true, 0},
		{"negative seconds: at once", []corev1.Taint{unreachable}, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(-5))}, true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{Tolerations: tc.tolerations}}
			at, evict := EvictionTime(pod, tc.taints, t0.Add(time.Hour))
			if evict != tc.evict {
				t.Fatalf("evict %v, want %v", evict, tc.evict)
			}
			if evict && !at.Equal(t0.Add(tc.after)) {
				t.Fatalf("at %s after the taint, want %s", at.Sub(t0), tc.after)
			}
		})
	}
	// A taint without timeAdded counts from when it was seen.
	seen := t0.Add(time.Minute)
	at, _ := EvictionTime(&corev1.Pod{Spec: corev1.PodSpec{Tolerations: []corev1.Toleration{tol(corev1.TaintNodeUnreachable, secs(10))}}},
		[]corev1.Taint{{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}}, seen)
	if !at.Equal(seen.Add(10 * time.Second)) {
		t.Fatalf("at %v, want %v", at, seen.Add(10*time.Second))
	}
}
