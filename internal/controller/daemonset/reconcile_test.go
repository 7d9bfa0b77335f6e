package daemonset

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcnet/svcnet/internal/controller/podutil"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func testSet(image string) *appsv1.DaemonSet {
	one := intstr.FromInt32(1)
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "ns", UID: "ds-uid", Generation: 2},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: image}}}},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: &one}},
		},
	}
}

func node(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

// running is a ready pod of ds (at its current template unless hash says
// otherwise) bound to node.
func running(ds *appsv1.DaemonSet, name, nodeName, hash string) *corev1.Pod {
	p := PodFor(ds, nodeName, podutil.OwnerRef(ds, dsKind))
	p.Name, p.Spec.NodeName = name, nodeName
	if hash != "" {
		p.Labels[RevisionLabel] = hash
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
		LastTransitionTime: metav1.NewTime(now.Add(-time.Minute))}}}
	return p
}

func names(pods []*corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestReconcilePlacesOnePodPerFittingNode(t *testing.T) {
	ds := testSet("v1")
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "worker"}
	nodes := []*corev1.Node{
		node("a", map[string]string{"role": "worker"}),
		node("b", map[string]string{"role": "worker"}),
		node("c", map[string]string{"role": "db"}),
		node("d", map[string]string{"role": "worker"}, corev1.Taint{Key: "dedicated", Effect: corev1.TaintEffectNoSchedule}),
		// Unreachable nodes keep their daemon pods: the tolerations cover them.
		node("e", map[string]string{"role": "worker"}, corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute}),
	}
	owned := []*corev1.Pod{
		running(ds, "on-a", "a", ""), running(ds, "dup-on-a", "a", ""),
		running(ds, "on-c", "c", ""), // c no longer fits
	}
	owned[1].CreationTimestamp = metav1.NewTime(now) // younger: the duplicate to go
	plan := Reconcile(ds, nodes, owned, now)
	if got := plan.Create; len(got) != 2 || got[0] != "b" || got[1] != "e" {
		t.Fatalf("create on %v, want [b e]", got)
	}
	del := names(plan.Delete)
	if len(del) != 2 || !contains(del, "dup-on-a") || !contains(del, "on-c") {
		t.Fatalf("delete %v, want the duplicate on a and the pod on c", del)
	}
	st := plan.Status
	if st.DesiredNumberScheduled != 3 || st.CurrentNumberScheduled != 1 || st.NumberReady != 1 || st.NumberMisscheduled != 1 || st.NumberUnavailable != 2 {
		t.Fatalf("status %+v", st)
	}
}

func TestReconcileRollingUpdateRespectsMaxUnavailable(t *testing.T) {
	ds := testSet("v2")
	nodes := []*corev1.Node{node("a", nil), node("b", nil), node("c", nil)}
	owned := []*corev1.Pod{running(ds, "pa", "a", "old"), running(ds, "pb", "b", "old"), running(ds, "pc", "c", "old")}
	plan := Reconcile(ds, nodes, owned, now)
	if len(plan.Delete) != 1 || len(plan.Create) != 0 {
		t.Fatalf("first step: delete %v create %v, want one outdated pod deleted", names(plan.Delete), plan.Create)
	}
	// While a node has no pod, nothing more is taken down.
	plan = Reconcile(ds, nodes, owned[1:], now)
	if len(plan.Delete) != 0 || len(plan.Create) != 1 || plan.Create[0] != "a" {
		t.Fatalf("second step: delete %v create %v, want only a's pod created", names(plan.Delete), plan.Create)
	}
	// OnDelete leaves outdated pods alone.
	ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
	if plan = Reconcile(ds, nodes, owned, now); len(plan.Delete) != 0 || plan.Status.UpdatedNumberScheduled != 0 {
		t.Fatalf("OnDelete: delete %v, updated %d", names(plan.Delete), plan.Status.UpdatedNumberScheduled)
	}
}

func TestPodForPinsTheNode(t *testing.T) {
	ds := testSet("v1")
	p := PodFor(ds, "a", podutil.OwnerRef(ds, dsKind))
	if !podutil.FitsNode(p, node("a", nil)) || podutil.FitsNode(p, node("b", nil)) {
		t.Fatal("a daemon pod must fit its own node and no other")
	}
	cordoned := node("a", nil)
	cordoned.Spec.Unschedulable = true
	if !podutil.FitsNode(p, cordoned) {
		t.Fatal("a daemon pod tolerates a cordon")
	}
	if p.Labels[RevisionLabel] != Hash(ds) || p.GenerateName != "agent-" {
		t.Fatalf("labels %v generateName %q", p.Labels, p.GenerateName)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
