package statefulset

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func set(n int32, policy appsv1.PodManagementPolicyType) *appsv1.StatefulSet {
	zero := int32(0)
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: "s"},
		Spec: appsv1.StatefulSetSpec{Replicas: &n, ServiceName: "nginx", PodManagementPolicy: policy,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &zero}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}}},
	}
}

func running(s *appsv1.StatefulSet, o int, ready bool) *corev1.Pod {
	p := PodFor(s, o)
	p.Status.Phase = corev1.PodRunning
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

func names(pods []*corev1.Pod) string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return fmt.Sprint(out)
}

func TestOrderedReady(t *testing.T) {
	s := set(3, appsv1.OrderedReadyPodManagement)
	if p := Reconcile(s, nil); fmt.Sprint(p.Create) != "[0]" {
		t.Fatalf("first step creates %v", p.Create)
	}
	if p := Reconcile(s, []*corev1.Pod{running(s, 0, false)}); len(p.Create) != 0 {
		t.Fatalf("created %v before web-0 was ready", p.Create)
	}
	if p := Reconcile(s, []*corev1.Pod{running(s, 0, true)}); fmt.Sprint(p.Create) != "[1]" {
		t.Fatalf("after web-0 ready: %v", p.Create)
	}
	// Scale down from the highest ordinal, one at a time.
	s2 := set(1, appsv1.OrderedReadyPodManagement)
	pods := []*corev1.Pod{running(s2, 0, true), running(s2, 1, true), running(s2, 2, true)}
	if p := Reconcile(s2, pods); names(p.Delete) != "[web-2]" {
		t.Fatalf("scale down deletes %s", names(p.Delete))
	}
}

func TestParallel(t *testing.T) {
	s := set(3, appsv1.ParallelPodManagement)
	if p := Reconcile(s, nil); fmt.Sprint(p.Create) != "[0 1 2]" {
		t.Fatalf("parallel creates %v", p.Create)
	}
}

func TestPodIdentity(t *testing.T) {
	s := set(3, "")
	p := PodFor(s, 2)
	if p.Name != "web-2" || p.Spec.Hostname != "web-2" || p.Spec.Subdomain != "nginx" || p.Labels[PodIndexLabel] != "2" || p.Labels[PodNameLabel] != "web-2" {
		t.Fatalf("pod identity: %+v %+v", p.ObjectMeta, p.Spec)
	}
	if Ordinal(s, p) != 2 || Ordinal(s, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-02"}}) != -1 {
		t.Fatal("ordinal parsing")
	}
}

func TestRollingUpdateFromTheTop(t *testing.T) {
	s := set(3, appsv1.OrderedReadyPodManagement)
	pods := []*corev1.Pod{running(s, 0, true), running(s, 1, true), running(s, 2, true)}
	s.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	p := Reconcile(s, pods)
	if names(p.Delete) != "[web-2]" || p.Status.UpdatedReplicas != 0 || p.Status.ReadyReplicas != 3 {
		t.Fatalf("update deletes %s, status %+v", names(p.Delete), p.Status)
	}
}
