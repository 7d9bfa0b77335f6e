package disruption

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcnet/svcnet/internal/controller/podutil"
)

// DeletionTimeout is how long a pod the eviction subresource approved
// counts as going (Kubernetes' 2 minutes); then it counts again.
const DeletionTimeout = 2 * time.Minute

// Counts says what a budget needs: expected is the pods' controllers'
// scale (or the pods' count), desiredHealthy the healthy pods it requires.
type Counts struct{ Expected, DesiredHealthy int32 }

// Needs computes a budget's counts as Kubernetes does: maxUnavailable and a
// percentage minAvailable are against the controllers' scale (scale() sums
// the replicas of the pods' controllers), an integer minAvailable against
// itself.
func Needs(pdb *policyv1.PodDisruptionBudget, pods int, scale func() (int32, error)) (Counts, error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected, err := scale()
		if err != nil {
			return Counts{}, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return Counts{}, err
		}
		return Counts{Expected: expected, DesiredHealthy: max(expected-int32(maxUnavailable), 0)}, nil
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		return Counts{Expected: int32(pods), DesiredHealthy: pdb.Spec.MinAvailable.IntVal}, nil
	case pdb.Spec.MinAvailable != nil:
		expected, err := scale()
		if err != nil {
			return Counts{}, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return Counts{}, err
		}
		return Counts{Expected: expected, DesiredHealthy: int32(minAvailable)}, nil
	}
	return Counts{}, nil
}

// Status is the status pdb should have, given the pods its selector
// matches and its counts; recheck, when set, is when a disrupted pod that
// was not deleted counts again.
func Status(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, c Counts, now time.Time) (policyv1.PodDisruptionBudgetStatus, *time.Time) {
	disrupted := map[string]metav1.Time{}
	var recheck *time.Time
	for _, p := range pods {
		at, ok := pdb.Status.DisruptedPods[p.Name]
		if !ok || p.DeletionTimestamp != nil {
			continue
		}
		if expires := at.Add(DeletionTimeout); expires.After(now) {
			disrupted[p.Name] = at
			if recheck == nil || expires.Before(*recheck) {
				recheck = &expires
			}
		}
	}
	var healthy int32
	for _, p := range pods {
		if _, going := disrupted[p.Name]; p.DeletionTimestamp == nil && !going && podutil.IsReady(p) {
			healthy++
		}
	}
	allowed := max(healthy-c.DesiredHealthy, 0)
	if c.Expected <= 0 {
		allowed = 0
	}
	st := policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation, DisruptionsAllowed: allowed, CurrentHealthy: healthy,
		DesiredHealthy: c.DesiredHealthy, ExpectedPods: c.Expected, Conditions: append([]metav1.Condition(nil), pdb.Status.Conditions...),
	}
	if len(disrupted) > 0 {
		st.DisruptedPods = disrupted
	}
	cond := metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionTrue, Reason: policyv1.SufficientPodsReason,
		ObservedGeneration: pdb.Generation}
	if allowed == 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, policyv1.InsufficientPodsReason
	}
	apimeta.SetStatusCondition(&st.Conditions, cond)
	return st, recheck
}

// SyncFailed is the fail-safe status when counts cannot be made (a pod
// without a known controller under a percentage): nothing may be disrupted.
func SyncFailed(pdb *policyv1.PodDisruptionBudget, err error) policyv1.PodDisruptionBudgetStatus {
	st := *pdb.Status.DeepCopy()
	st.DisruptionsAllowed = 0
	apimeta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: policyv1.DisruptionAllowedCondition, Status: metav1.ConditionFalse,
		Reason: policyv1.SyncFailedReason, Message: err.Error(), ObservedGeneration: pdb.Generation})
	return st
}
