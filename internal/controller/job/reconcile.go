package job

import (
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcnet/svcnet/internal/controller/podutil"
)

// Plan is what a Job needs now: pods to create and delete, its status, and
// what happened (for events).
type Plan struct {
	Create int
	Delete []*corev1.Pod
	Status batchv1.JobStatus
	// Finished is the condition the Job reached in this pass, if any.
	Finished *batchv1.JobCondition
	// Recheck, when set, is when the Job must be looked at again (its
	// deadline).
	Recheck time.Duration
}

func finished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// Reconcile decides, from a Job and the pods it owns, as
// kube-controller-manager's job controller does (NonIndexed completion):
// parallelism pods at a time until completions succeed; Failed when more
// pods failed than backoffLimit or the Job outlived activeDeadlineSeconds
// (its active pods are then deleted); Complete when enough succeeded.
func Reconcile(j *batchv1.Job, pods []*corev1.Pod, now time.Time) Plan {
	st := *j.Status.DeepCopy()
	var active []*corev1.Pod
	var succeeded, failed, ready int32
	for _, p := range pods {
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			succeeded++
		case p.Status.Phase == corev1.PodFailed:
			failed++
		case p.DeletionTimestamp == nil:
			active = append(active, p)
			if podutil.IsReady(p) {
				ready++
			}
		}
	}
	// Counts never go down: a finished pod deleted later still counted.
	st.Succeeded, st.Failed = max(st.Succeeded, succeeded), max(st.Failed, failed)
	st.Active, st.Ready = int32(len(active)), &ready
	plan := Plan{}
	if finished(j) {
		plan.Status = st
		return plan
	}
	suspended := j.Spec.Suspend != nil && *j.Spec.Suspend
	if st.StartTime == nil && !suspended {
		t := metav1.NewTime(now)
		st.StartTime = &t
	}
	fail := func(reason, message string) {
		plan.Delete = active
		st.Active = 0
		setCondition(&st, batchv1.JobFailureTarget, reason, message, now)
		setCondition(&st, batchv1.JobFailed, reason, message, now)
		plan.Finished = &batchv1.JobCondition{Type: batchv1.JobFailed, Reason: reason, Message: message}
	}
	switch {
	case suspended:
		plan.Delete = active
		st.Active = 0
		setCondition(&st, batchv1.JobSuspended, "JobSuspended", "Job suspended", now)
	case j.Spec.BackoffLimit != nil && st.Failed > *j.Spec.BackoffLimit:
		fail("BackoffLimitExceeded", "Job has reached the specified backoff limit")
	case j.Spec.ActiveDeadlineSeconds != nil && now.Sub(st.StartTime.Time) >= time.Duration(*j.Spec.ActiveDeadlineSeconds)*time.Second:
		fail("DeadlineExceeded", "Job was active longer than specified deadline")
	case j.Spec.Completions != nil && st.Succeeded >= *j.Spec.Completions,
		j.Spec.Completions == nil && st.Succeeded > 0 && len(active) == 0:
		// Done: enough succeeded (or, without completions, one did and
		// none is left running).
		plan.Delete = active
		st.Active = 0
		setCondition(&st, batchv1.JobSuccessCriteriaMet, "CompletionsReached", "Reached expected number of succeeded pods", now)
		setCondition(&st, batchv1.JobComplete, "CompletionsReached", "Reached expected number of succeeded pods", now)
		t := metav1.NewTime(now)
		st.CompletionTime = &t
		plan.Finished = &batchv1.JobCondition{Type: batchv1.JobComplete}
	default:
		removeCondition(&st, batchv1.JobSuspended)
		want := int32(1)
		if j.Spec.Parallelism != nil {
			want = *j.Spec.Parallelism
		}
		if j.Spec.Completions != nil {
			want = min(want, *j.Spec.Completions-st.Succeeded)
		} else if st.Succeeded > 0 {
			want = 0 // a work queue: once one succeeded, no new pods
		}
		switch n := int32(len(active)); {
		case n < want:
			plan.Create = int(want - n)
		case n > want:
			sort.Slice(active, func(a, b int) bool { return active[a].CreationTimestamp.After(active[b].CreationTimestamp.Time) })
			plan.Delete = active[:n-want]
		}
		if d := j.Spec.ActiveDeadlineSeconds; d != nil {
			plan.Recheck = st.StartTime.Add(time.Duration(*d) * time.Second).Sub(now)
		}
	}
	plan.Status = st
	return plan
}

func setCondition(st *batchv1.JobStatus, typ batchv1.JobConditionType, reason, message string, now time.Time) {
	t := metav1.NewTime(now)
	for i := range st.Conditions {
		if st.Conditions[i].Type == typ {
			c := &st.Conditions[i]
			if c.Status != corev1.ConditionTrue || c.Reason != reason {
				c.Status, c.Reason, c.Message, c.LastProbeTime, c.LastTransitionTime = corev1.ConditionTrue, reason, message, t, t
			}
			return
		}
	}
	st.Conditions = append(st.Conditions, batchv1.JobCondition{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastProbeTime: t, LastTransitionTime: t})
}

func removeCondition(st *batchv1.JobStatus, typ batchv1.JobConditionType) {
	out := st.Conditions[:0]
	for _, c := range st.Conditions {
		if c.Type != typ {
			out = append(out, c)
		}
	}
	st.Conditions = out
}
