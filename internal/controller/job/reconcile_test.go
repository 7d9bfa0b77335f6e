package job

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestReconcile(t *testing.T) {
	now := time.Unix(10_000, 0)
	i32 := func(n int32) *int32 { return &n }
	i64 := func(n int64) *int64 { return &n }
	pods := func(phases ...corev1.PodPhase) []*corev1.Pod {
		var out []*corev1.Pod
		for i, ph := range phases {
			out = append(out, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: string(rune('a' + i)), CreationTimestamp: metav1.NewTime(now.Add(time.Duration(i) * time.Second))},
				Status: corev1.PodStatus{Phase: ph}})
		}
		return out
	}
	job := func(mutate func(*batchv1.JobSpec)) *batchv1.Job {
		j := &batchv1.Job{Spec: batchv1.JobSpec{Completions: i32(3), Parallelism: i32(2), BackoffLimit: i32(1)}}
		if mutate != nil {
			mutate(&j.Spec)
		}
		return j
	}
	run, ok, bad := corev1.PodRunning, corev1.PodSucceeded, corev1.PodFailed
	cases := []struct {
		name              string
		job               *batchv1.Job
		pods              []*corev1.Pod
		create, deletes   int
		finished          batchv1.JobConditionType
		succeeded, failed int32
	}{
		{"start: parallelism pods", job(nil), nil, 2, 0, "", 0, 0},
		{"one done, two to go: keep two running", job(nil), pods(ok, run), 1, 0, "", 1, 0},
		{"two done: only one more", job(nil), pods(ok, ok), 1, 0, "", 2, 0},
		{"three done: Complete", job(nil), pods(ok, ok, ok), 0, 0, batchv1.JobComplete, 3, 0},
		{"a failure within the backoff limit: replaced", job(nil), pods(bad, run), 1, 0, "", 0, 1},
		{"over the backoff limit: Failed, the rest deleted", job(nil), pods(bad, bad, run), 0, 1, batchv1.JobFailed, 0, 2},
		{"past the deadline: Failed", job(func(s *batchv1.JobSpec) { s.ActiveDeadlineSeconds = i64(5) }), pods(run), 0, 1, batchv1.JobFailed, 0, 0},
		{"suspended: its pods go", job(func(s *batchv1.JobSpec) { s.Suspend = new(bool); *s.Suspend = true }), pods(run, run), 0, 2, "", 0, 0},
		{"a work queue (no completions) ends when one succeeded and none runs", job(func(s *batchv1.JobSpec) { s.Completions = nil }), pods(ok), 0, 0, batchv1.JobComplete, 1, 0},
		{"parallelism lowered: the newest goes", job(func(s *batchv1.JobSpec) { s.Parallelism = i32(1) }), pods(run, run), 0, 1, "", 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := tc.job
			if tc.name == "past the deadline: Failed" {
				start := metav1.NewTime(now.Add(-10 * time.Second))
				j.Status.StartTime = &start
			}
			plan := Reconcile(j, tc.pods, now)
			if plan.Create != tc.create || len(plan.Delete) != tc.deletes {
				t.Fatalf("create %d delete %d, want %d and %d", plan.Create, len(plan.Delete), tc.create, tc.deletes)
			}
			var got batchv1.JobConditionType
			if plan.Finished != nil {
				got = plan.Finished.Type
			}
			if got != tc.finished || plan.Status.Succeeded != tc.succeeded || plan.Status.Failed != tc.failed {
				t.Fatalf("finished %q succeeded %d failed %d, want %q %d %d", got, plan.Status.Succeeded, plan.Status.Failed, tc.finished, tc.succeeded, tc.failed)
			}
			if tc.finished == batchv1.JobComplete && plan.Status.CompletionTime == nil {
				t.Fatal("no completionTime")
			}
			if tc.name == "parallelism lowered: the newest goes" && plan.Delete[0].Name != "b" {
				t.Fatalf("deleted %s, want the newest", plan.Delete[0].Name)
			}
		})
	}
}
