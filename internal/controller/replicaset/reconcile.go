package replicaset

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
