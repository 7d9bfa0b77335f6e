package cronjob

import (
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/robfig/cron/v3"
)

// ScheduledTimeAnnotation records when a Job was due, as Kubernetes writes it.
const ScheduledTimeAnnotation = batchv1.CronJobScheduledTimestampAnnotation

// maxMissed is how many missed runs Kubernetes tolerates before it gives up
// on catching up (and starts from the latest).
const maxMissed = 100

// Finished reports whether a Job has completed or failed, and which.
func Finished(j *batchv1.Job) (done bool, failed bool) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete, batchv1.JobSuccessCriteriaMet:
			return true, false
		case batchv1.JobFailed, batchv1.JobFailureTarget:
			return true, true
		}
	}
	return false, false
}

// JobName is the Job for a run due at t: the CronJob's name and the minute
// since the epoch, so a run is created once however often it is decided.
func JobName(cj *batchv1.CronJob, t time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, t.Unix()/60)
}

// Plan is what a CronJob needs now.
type Plan struct {
	// Run is the due time of a Job to create, zero for none.
	Run time.Time
	// Replace are active Jobs to delete first (concurrencyPolicy Replace).
	Replace []*batchv1.Job
	// Prune are finished Jobs beyond the history limits.
	Prune []*batchv1.Job
	// Skipped says why a due run was not started ("" if none was skipped).
	Skipped string
	// Next is when the CronJob is next due.
	Next   time.Time
	Status batchv1.CronJobStatus
}

// Reconcile decides a CronJob's next step at now: the latest run due since
// the last one (if within startingDeadlineSeconds and not suspended), held
// back by Forbid or replacing by Replace while one is active, and the
// finished Jobs to prune.
func Reconcile(cj *batchv1.CronJob, sched cron.Schedule, loc *time.Location, jobs []*batchv1.Job, now time.Time) Plan {
	var plan Plan
	st := batchv1.CronJobStatus{LastScheduleTime: cj.Status.LastScheduleTime, LastSuccessfulTime: cj.Status.LastSuccessfulTime}
	var active, succeeded, failed []*batchv1.Job
	for _, j := range jobs {
		done, fail := Finished(j)
		switch {
		case !done:
			active = append(active, j)
		case fail:
			failed = append(failed, j)
		default:
			succeeded = append(succeeded, j)
			if ct := j.Status.CompletionTime; ct != nil && (st.LastSuccessfulTime == nil || st.LastSuccessfulTime.Before(ct)) {
				st.LastSuccessfulTime = ct
			}
		}
	}
	for _, j := range active {
		st.Active = append(st.Active, corev1.ObjectReference{Kind: "Job", Namespace: j.Namespace, Name: j.Name, UID: j.UID, APIVersion: "batch/v1", ResourceVersion: j.ResourceVersion})
	}
	sort.Slice(st.Active, func(i, k int) bool { return st.Active[i].Name < st.Active[k].Name })
	plan.Prune = append(prune(succeeded, cj.Spec.SuccessfulJobsHistoryLimit), prune(failed, cj.Spec.FailedJobsHistoryLimit)...)

	since := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		since = cj.Status.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if earliest := now.Add(-time.Duration(*d) * time.Second); since.Before(earliest) {
			since = earliest
		}
	}
	var due time.Time
	t := sched.Next(since.In(loc))
	for n := 0; !t.IsZero() && !t.After(now) && n < maxMissed*10; n++ {
		due = t
		t = sched.Next(t)
	}
	plan.Next = t
	if !due.IsZero() {
		switch {
		case cj.Spec.Suspend != nil && *cj.Spec.Suspend:
			plan.Skipped = "suspended"
		case len(active) > 0 && cj.Spec.ConcurrencyPolicy == batchv1.ForbidConcurrent:
			plan.Skipped = "forbid"
		default:
			if cj.Spec.ConcurrencyPolicy == batchv1.ReplaceConcurrent {
				plan.Replace = active
				st.Active = nil
			}
			plan.Run = due
			lt := metav1.NewTime(due)
			st.LastScheduleTime = &lt
		}
	}
	plan.Status = st
	return plan
}

// prune returns the oldest finished Jobs beyond limit.
func prune(jobs []*batchv1.Job, limit *int32) []*batchv1.Job {
	if limit == nil || len(jobs) <= int(*limit) {
		return nil
	}
	sort.Slice(jobs, func(i, k int) bool { return jobs[i].CreationTimestamp.Before(&jobs[k].CreationTimestamp) })
	return jobs[:len(jobs)-int(*limit)]
}

// JobFor is the Job a run due at t creates.
func JobFor(cj *batchv1.CronJob, t time.Time, owner metav1.OwnerReference) *batchv1.Job {
	tmpl := cj.Spec.JobTemplate.DeepCopy()
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: JobName(cj, t), Namespace: cj.Namespace, Labels: tmpl.Labels,
			Annotations: map[string]string{ScheduledTimeAnnotation: t.UTC().Format(time.RFC3339)}, OwnerReferences: []metav1.OwnerReference{owner}},
		Spec: tmpl.Spec,
	}
	for k, v := range tmpl.Annotations {
		j.Annotations[k] = v
	}
	return j
}
