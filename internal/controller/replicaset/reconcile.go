package replicaset

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/svcnet/svcnet/internal/controller/podutil"
)

// MaxBurst caps the pods one sync creates or deletes.
const MaxBurst = 500

// Plan is what a ReplicaSet needs done.
type Plan struct {
	// Create is how many pods to create from the template.
	Create int
	// Delete are the pods to delete, most expendable first.
	Delete []*corev1.Pod
	Status appsv1.ReplicaSetStatus
}

// Reconcile compares a ReplicaSet with the pods it controls. Only active
// pods count; failed, succeeded and terminating pods are replaced.
func Reconcile(rs *appsv1.ReplicaSet, owned []*corev1.Pod, now time.Time) Plan {
	want := int32(1)
	if rs.Spec.Replicas != nil {
		want = *rs.Spec.Replicas
	}
	var active []*corev1.Pod
	for _, p := range owned {
		if podutil.IsActive(p) {
			active = append(active, p)
		}
	}
	var plan Plan
	diff := int(want) - len(active)
	switch {
	case diff > 0:
		plan.Create = min(diff, MaxBurst)
	case diff < 0:
		victims := append([]*corev1.Pod(nil), active...)
		podutil.SortForDeletion(victims)
		plan.Delete = victims[:min(-diff, MaxBurst)]
	}
	tmpl := labels.Set(rs.Spec.Template.Labels)
	st := appsv1.ReplicaSetStatus{Replicas: int32(len(active)), ObservedGeneration: rs.Generation, Conditions: rs.Status.Conditions}
	for _, p := range active {
		if tmpl.AsSelector().Matches(labels.Set(p.Labels)) {
			st.FullyLabeledReplicas++
		}
		if podutil.IsReady(p) {
			st.ReadyReplicas++
		}
		if podutil.IsAvailable(p, rs.Spec.MinReadySeconds, now) {
			st.AvailableReplicas++
		}
	}
	for _, p := range owned {
		if p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			t := int32(0)
			if st.TerminatingReplicas != nil {
				t = *st.TerminatingReplicas
			}
			t++
			st.TerminatingReplicas = &t
		}
	}
	plan.Status = st
	return plan
}

// ReplicaSetOf is a ReplicationController as the ReplicaSet it stands for:
// its map selector as matchLabels.
func ReplicaSetOf(rc *corev1.ReplicationController) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{ObjectMeta: *rc.ObjectMeta.DeepCopy(), Spec: appsv1.ReplicaSetSpec{
		Replicas: rc.Spec.Replicas, MinReadySeconds: rc.Spec.MinReadySeconds,
		Selector: &metav1.LabelSelector{MatchLabels: rc.Spec.Selector},
	}}
	if rc.Spec.Template != nil {
		rs.Spec.Template = *rc.Spec.Template.DeepCopy()
	}
	rs.Status = appsv1.ReplicaSetStatus{Replicas: rc.Status.Replicas, FullyLabeledReplicas: rc.Status.FullyLabeledReplicas,
		ReadyReplicas: rc.Status.ReadyReplicas, AvailableReplicas: rc.Status.AvailableReplicas, ObservedGeneration: rc.Status.ObservedGeneration}
	for _, c := range rc.Status.Conditions {
		rs.Status.Conditions = append(rs.Status.Conditions, appsv1.ReplicaSetCondition{Type: appsv1.ReplicaSetConditionType(c.Type),
			Status: c.Status, LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message})
	}
	return rs
}

func rcStatusOf(st appsv1.ReplicaSetStatus) corev1.ReplicationControllerStatus {
	out := corev1.ReplicationControllerStatus{Replicas: st.Replicas, FullyLabeledReplicas: st.FullyLabeledReplicas,
		ReadyReplicas: st.ReadyReplicas, AvailableReplicas: st.AvailableReplicas, ObservedGeneration: st.ObservedGeneration}
	for _, c := range st.Conditions {
		out.Conditions = append(out.Conditions, corev1.ReplicationControllerCondition{Type: corev1.ReplicationControllerConditionType(c.Type),
			Status: c.Status, LastTransitionTime: c.LastTransitionTime, Reason: c.Reason, Message: c.Message})
	}
	return out
}
