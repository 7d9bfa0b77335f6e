package deployment

import (
	"fmt"
	"sort"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

// Annotation and label keys Kubernetes uses.
const (
	RevisionAnnotation        = "deployment.kubernetes.io/revision"
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	MaxReplicasAnnotation     = "deployment.kubernetes.io/max-replicas"
	HashLabel                 = appsv1.DefaultDeploymentUniqueLabelKey // pod-template-hash
)

// Change is a ReplicaSet write: its desired state.
type Change struct {
	RS   *appsv1.ReplicaSet
	From int32 // replicas before, for events
}

// Plan is what a Deployment needs done this round.
type Plan struct {
	// Create is the new ReplicaSet to create, if it does not exist yet.
	Create *appsv1.ReplicaSet
	// Update are ReplicaSets to write (replicas, annotations).
	Update []Change
	// Delete are old ReplicaSets past revisionHistoryLimit.
	Delete []*appsv1.ReplicaSet
	// Revision is the Deployment's revision annotation.
	Revision string
	Status   appsv1.DeploymentStatus
}

func replicasOf(rs *appsv1.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

func revisionOf(rs *appsv1.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
	return n
}

// equalIgnoreHash compares templates without the pod-template-hash label.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, HashLabel)
	delete(b.Labels, HashLabel)
	return apiequality.Semantic.DeepEqual(a, b)
}

// Surge resolves maxSurge and maxUnavailable against replicas as Kubernetes
// does: surge rounds up, unavailable rounds down, never both zero.
func Surge(d *appsv1.Deployment) (surge, unavailable int32) {
	if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.RollingUpdate == nil {
		return 0, 0
	}
	want := int(*d.Spec.Replicas)
	ru := d.Spec.Strategy.RollingUpdate
	s, _ := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(ru.MaxSurge, intstr.FromString("25%")), want, true)
	u, _ := intstr.GetScaledValueFromIntOrPercent(intstr.ValueOrDefault(ru.MaxUnavailable, intstr.FromString("25%")), want, false)
	if s == 0 && u == 0 {
		u = 1
	}
	if u > want {
		u = want
	}
	return int32(s), int32(u)
}

// Reconcile decides the next step of a Deployment given the ReplicaSets it
// controls.
func Reconcile(d *appsv1.Deployment, owned []*appsv1.ReplicaSet, now time.Time) Plan {
	want := *d.Spec.Replicas
	hash := kube.ComputeHash(&d.Spec.Template, d.Status.CollisionCount)
	var newRS *appsv1.ReplicaSet
	var old []*appsv1.ReplicaSet
	for _, rs := range owned {
		if newRS == nil && equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			newRS = rs.DeepCopy()
		} else {
			old = append(old, rs)
		}
	}
	sort.Slice(old, func(i, j int) bool {
		if !old[i].CreationTimestamp.Equal(&old[j].CreationTimestamp) {
			return old[i].CreationTimestamp.Before(&old[j].CreationTimestamp)
		}
		return old[i].Name < old[j].Name
	})
	var maxOld int64
	for _, rs := range old {
		maxOld = max(maxOld, revisionOf(rs))
	}
	surge, maxUnavail := Surge(d)
	var plan Plan
	desired := map[string]int32{}
	for _, rs := range owned {
		desired[rs.Name] = replicasOf(rs)
	}
	var oldTotal int32
	for _, rs := range old {
		oldTotal += replicasOf(rs)
	}
	created := false
	if newRS == nil {
		created = true
		newRS = &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{
				Name: d.Name + "-" + hash, Namespace: d.Namespace,
				Labels:          withLabel(d.Spec.Template.Labels, HashLabel, hash),
				OwnerReferences: []metav1.OwnerReference{podutil.OwnerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))},
			},
			Spec: appsv1.ReplicaSetSpec{
				Selector:        addSelectorLabel(d.Spec.Selector, hash),
				Template:        *d.Spec.Template.DeepCopy(),
				MinReadySeconds: d.Spec.MinReadySeconds,
			},
		}
		newRS.Spec.Template.Labels = withLabel(d.Spec.Template.Labels, HashLabel, hash)
		zero := int32(0)
		newRS.Spec.Replicas = &zero
		desired[newRS.Name] = 0
	}
	rev := revisionOf(newRS)
	if rev <= maxOld || rev == 0 {
		rev = maxOld + 1
	}
	plan.Revision = strconv.FormatInt(rev, 10)

	// Scale.
	newCur := desired[newRS.Name]
	switch {
	case d.Spec.Paused:
	case d.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType:
		if oldTotal > 0 {
			for _, rs := range old {
				desired[rs.Name] = 0
			}
		} else if oldPodsGone(old) {
			desired[newRS.Name] = want
		}
	default:
		// Scale the new ReplicaSet up within maxSurge.
		var total int32
		for _, n := range desired {
			total += n
		}
		switch {
		case newCur > want:
			desired[newRS.Name] = want
		case newCur < want:
			if allowed := want + surge - total; allowed > 0 {
				desired[newRS.Name] = min(newCur+allowed, want)
			}
		}
		// Scale old ReplicaSets down while keeping want-maxUnavailable available.
		minAvailable := want - maxUnavail
		newUnavailable := replicasOf(newRS) - newRS.Status.AvailableReplicas
		var all int32
		for _, rs := range owned {
			all += replicasOf(rs)
		}
		if created {
			all += 0
		}
		budget := all - minAvailable - max(newUnavailable, 0)
		// First the old pods that are not available anyway.
		for _, rs := range old {
			if budget <= 0 {
				break
			}
			unhealthy := desired[rs.Name] - rs.Status.AvailableReplicas
			if unhealthy > 0 {
				cut := min(unhealthy, budget)
				desired[rs.Name] -= cut
				budget -= cut
			}
		}
		// Then available old pods, as far as availability allows.
		var available int32
		for _, rs := range owned {
			available += rs.Status.AvailableReplicas
		}
		if room := available - minAvailable; room > 0 {
			for _, rs := range old {
				if room <= 0 {
					break
				}
				cut := min(desired[rs.Name], room)
				desired[rs.Name] -= cut
				room -= cut
			}
		}
	}

	// New ReplicaSet annotations.
	ann := map[string]string{
		RevisionAnnotation:        plan.Revision,
		DesiredReplicasAnnotation: strconv.Itoa(int(want)),
		MaxReplicasAnnotation:     strconv.Itoa(int(want + surge)),
	}
	if created {
		n := desired[newRS.Name]
		newRS.Spec.Replicas = &n
		newRS.Annotations = ann
		plan.Create = newRS
	} else {
		changed := false
		upd := newRS.DeepCopy()
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		for k, v := range ann {
			if upd.Annotations[k] != v {
				upd.Annotations[k] = v
				changed = true
			}
		}
		if n := desired[newRS.Name]; n != replicasOf(newRS) {
			upd.Spec.Replicas = &n
			changed = true
		}
		if changed {
			plan.Update = append(plan.Update, Change{RS: upd, From: replicasOf(newRS)})
		}
	}
	for _, rs := range old {
		if n := desired[rs.Name]; n != replicasOf(rs) {
			upd := rs.DeepCopy()
			upd.Spec.Replicas = &n
			plan.Update = append(plan.Update, Change{RS: upd, From: replicasOf(rs)})
		}
	}

	// History.
	limit := int32(10)
	if d.Spec.RevisionHistoryLimit != nil {
		limit = *d.Spec.RevisionHistoryLimit
	}
	var idle []*appsv1.ReplicaSet
	for _, rs := range old {
		if replicasOf(rs) == 0 && rs.Status.Replicas == 0 && desired[rs.Name] == 0 && rs.DeletionTimestamp == nil {
			idle = append(idle, rs)
		}
	}
	if extra := len(idle) - int(limit); extra > 0 {
		sort.Slice(idle, func(i, j int) bool { return revisionOf(idle[i]) < revisionOf(idle[j]) })
		plan.Delete = idle[:extra]
	}

	plan.Status = status(d, newRS, owned, created, maxUnavail, now)
	return plan
}

func oldPodsGone(old []*appsv1.ReplicaSet) bool {
	for _, rs := range old {
		if rs.Status.Replicas > 0 {
			return false
		}
	}
	return true
}

func status(d *appsv1.Deployment, newRS *appsv1.ReplicaSet, owned []*appsv1.ReplicaSet, created bool, maxUnavail int32, now time.Time) appsv1.DeploymentStatus {
	want := *d.Spec.Replicas
	st := appsv1.DeploymentStatus{ObservedGeneration: d.Generation, CollisionCount: d.Status.CollisionCount}
	for _, rs := range owned {
		st.Replicas += rs.Status.Replicas
		st.ReadyReplicas += rs.Status.ReadyReplicas
		st.AvailableReplicas += rs.Status.AvailableReplicas
		if rs.Status.TerminatingReplicas != nil {
			t := *rs.Status.TerminatingReplicas
			if st.TerminatingReplicas != nil {
				t += *st.TerminatingReplicas
			}
			st.TerminatingReplicas = &t
		}
	}
	if !created {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	st.UnavailableReplicas = max(want-st.AvailableReplicas, 0)
	conds := append([]appsv1.DeploymentCondition(nil), d.Status.Conditions...)
	nowT := metav1.NewTime(now)
	set := func(c appsv1.DeploymentCondition) {
		c.LastUpdateTime = nowT
		c.LastTransitionTime = nowT
		for i := range conds {
			if conds[i].Type == c.Type {
				if conds[i].Status == c.Status {
					c.LastTransitionTime = conds[i].LastTransitionTime
					if conds[i].Reason == c.Reason && conds[i].Message == c.Message {
						c.LastUpdateTime = conds[i].LastUpdateTime
					}
				}
				conds[i] = c
				return
			}
		}
		conds = append(conds, c)
	}
	if st.AvailableReplicas >= want-maxUnavail {
		set(appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", Message: "Deployment has minimum availability."})
	} else {
		set(appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: "MinimumReplicasUnavailable", Message: "Deployment does not have minimum availability."})
	}
	complete := !created && st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want
	switch {
	case complete:
		set(appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable", Message: fmt.Sprintf("ReplicaSet %q has successfully progressed.", newRS.Name)})
	case created:
		set(appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetCreated", Message: fmt.Sprintf("Created new replica set %q", newRS.Name)})
	default:
		set(appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated", Message: fmt.Sprintf("ReplicaSet %q is progressing.", newRS.Name)})
	}
	st.Conditions = conds
	return st
}

func withLabel(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

func addSelectorLabel(sel *metav1.LabelSelector, hash string) *metav1.LabelSelector {
	out := sel.DeepCopy()
	out.MatchLabels = withLabel(out.MatchLabels, HashLabel, hash)
	return out
}
