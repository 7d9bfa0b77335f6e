package cronjob

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/robfig/cron/v3"
)

var created = time.Date(2026, 11, 29, 12, 0, 30, 0, time.UTC)

func testCronJob(policy batchv1.ConcurrencyPolicy) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: "ns", UID: "cj", CreationTimestamp: metav1.NewTime(created)},
		Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", ConcurrencyPolicy: policy,
			SuccessfulJobsHistoryLimit: ptr.To[int32](1), FailedJobsHistoryLimit: ptr.To[int32](1)},
	}
}

func job(name string, age time.Duration, cond batchv1.JobConditionType) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", CreationTimestamp: metav1.NewTime(created.Add(age))}}
	if cond != "" {
		ct := metav1.NewTime(created.Add(age + time.Minute))
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue}}
		j.Status.CompletionTime = &ct
	}
	return j
}

func TestReconcile(t *testing.T) {
	sched, err := cron.ParseStandard("*/5 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		cj      *batchv1.CronJob
		jobs    []*batchv1.Job
		now     time.Time
		run     time.Time
		replace int
		skipped string
		prune   []string
	}{
		{name: "not yet due", cj: testCronJob(batchv1.AllowConcurrent), now: created.Add(4 * time.Minute)},
		{name: "due", cj: testCronJob(batchv1.AllowConcurrent), now: created.Add(5 * time.Minute), run: time.Date(2026, 11, 29, 12, 5, 0, 0, time.UTC)},
		{name: "missed runs start the latest only", cj: testCronJob(batchv1.AllowConcurrent), now: created.Add(17 * time.Minute),
			run: time.Date(2026, 11, 29, 12, 15, 0, 0, time.UTC)},
		{name: "forbid while active", cj: testCronJob(batchv1.ForbidConcurrent), jobs: []*batchv1.Job{job("a", time.Minute, "")},
			now: created.Add(5 * time.Minute), skipped: "forbid"},
		{name: "replace the active", cj: testCronJob(batchv1.ReplaceConcurrent), jobs: []*batchv1.Job{job("a", time.Minute, "")},
			now: created.Add(5 * time.Minute), run: time.Date(2026, 11, 29, 12, 5, 0, 0, time.UTC), replace: 1},
		{name: "suspended", cj: func() *batchv1.CronJob {
			c := testCronJob(batchv1.AllowConcurrent)
			c.Spec.Suspend = ptr.To(true)
			return c
		}(),
			now: created.Add(5 * time.Minute), skipped: "suspended"},
		{name: "past the starting deadline", cj: func() *batchv1.CronJob {
			c := testCronJob(batchv1.AllowConcurrent)
			c.Spec.StartingDeadlineSeconds = ptr.To[int64](30)
			return c
		}(), now: created.Add(6 * time.Minute)},
		{name: "history pruned to the limits", cj: testCronJob(batchv1.AllowConcurrent), now: created.Add(time.Minute),
			jobs:  []*batchv1.Job{job("ok-old", 0, batchv1.JobComplete), job("ok-new", time.Second, batchv1.JobComplete), job("bad-old", 0, batchv1.JobFailed), job("bad-new", time.Second, batchv1.JobFailed)},
			prune: []string{"ok-old", "bad-old"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := Reconcile(tc.cj, sched, time.UTC, tc.jobs, tc.now)
			if !plan.Run.Equal(tc.run) {
				t.Fatalf("run %v, want %v", plan.Run, tc.run)
			}
			if len(plan.Replace) != tc.replace || plan.Skipped != tc.skipped {
				t.Fatalf("replace %d skipped %q, want %d %q", len(plan.Replace), plan.Skipped, tc.replace, tc.skipped)
			}
			var pruned []string
			for _, j := range plan.Prune {
				pruned = append(pruned, j.Name)
			}
			if len(pruned) != len(tc.prune) || (len(pruned) > 0 && (pruned[0] != tc.prune[0] || pruned[1] != tc.prune[1])) {
				t.Fatalf("pruned %v, want %v", pruned, tc.prune)
			}
			if !plan.Run.IsZero() && (plan.Status.LastScheduleTime == nil || !plan.Status.LastScheduleTime.Time.Equal(plan.Run)) {
				t.Fatalf("lastScheduleTime %v, want %v", plan.Status.LastScheduleTime, plan.Run)
			}
			if !plan.Next.After(tc.now) {
				t.Fatalf("next %v is not after now %v", plan.Next, tc.now)
			}
		})
	}
}

func TestJobFor(t *testing.T) {
	cj := testCronJob(batchv1.AllowConcurrent)
	cj.Spec.JobTemplate.Labels = map[string]string{"team": "x"}
	due := time.Date(2026, 11, 29, 12, 5, 0, 0, time.UTC)
	j := JobFor(cj, due, metav1.OwnerReference{Name: "report", UID: "cj"})
	if j.Name != "report-29932565" || j.Labels["team"] != "x" || j.Annotations[ScheduledTimeAnnotation] != "2026-11-29T12:05:00Z" {
		t.Fatalf("job %s labels %v annotations %v", j.Name, j.Labels, j.Annotations)
	}
}
