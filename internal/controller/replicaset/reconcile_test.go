package replicaset

import (
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(name string, phase corev1.PodPhase, ready bool, node string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "a"}}, Spec: corev1.PodSpec{NodeName: node}, Status: corev1.PodStatus{Phase: phase}}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

func rs(n int32) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "rs", Generation: 2}, Spec: appsv1.ReplicaSetSpec{Replicas: &n,
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "a"}}}}}
}

func TestReconcile(t *testing.T) {
	now := time.Unix(1e9, 0)
	deleting := pod("deleting", corev1.PodRunning, true, "n")
	deleting.DeletionTimestamp = &metav1.Time{Time: now}
	cases := []struct {
		name       string
		want       int32
		pods       []*corev1.Pod
		create     int
		deleteWho  []string
		replicas   int32
		ready      int32
		terminated int32
	}{
		{"empty", 3, nil, 3, nil, 0, 0, 0},
		{"steady", 2, []*corev1.Pod{pod("a", corev1.PodRunning, true, "n"), pod("b", corev1.PodRunning, true, "n")}, 0, nil, 2, 2, 0},
		{"failed pod is replaced", 2, []*corev1.Pod{pod("a", corev1.PodRunning, true, "n"), pod("f", corev1.PodFailed, false, "n")}, 1, nil, 1, 1, 0},
		{"terminating pod is replaced", 1, []*corev1.Pod{deleting}, 1, nil, 0, 0, 1},
		{"scale down takes the least useful", 1, []*corev1.Pod{
			pod("ready", corev1.PodRunning, true, "n"), pod("unready", corev1.PodRunning, false, "n"), pod("pending", corev1.PodPending, false, "")},
			0, []string{"pending", "unready"}, 3, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Reconcile(rs(tc.want), tc.pods, now)
			if p.Create != tc.create {
				t.Fatalf("create %d, want %d", p.Create, tc.create)
			}
			var del []string
			for _, d := range p.Delete {
				del = append(del, d.Name)
			}
			if fmt.Sprint(del) != fmt.Sprint(tc.deleteWho) && !(len(del) == 0 && len(tc.deleteWho) == 0) {
				t.Fatalf("delete %v, want %v", del, tc.deleteWho)
			}
			if p.Status.Replicas != tc.replicas || p.Status.ReadyReplicas != tc.ready || p.Status.ObservedGeneration != 2 {
				t.Fatalf("status %+v", p.Status)
			}
			if tc.terminated > 0 && (p.Status.TerminatingReplicas == nil || *p.Status.TerminatingReplicas != tc.terminated) {
				t.Fatalf("terminating %v", p.Status.TerminatingReplicas)
			}
		})
	}
}

func TestBurstCap(t *testing.T) {
	if p := Reconcile(rs(2000), nil, time.Now()); p.Create != MaxBurst {
		t.Fatalf("create %d", p.Create)
	}
}
