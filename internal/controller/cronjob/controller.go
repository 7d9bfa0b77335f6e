// Package cronjob creates a CronJob's Jobs on its schedule, as
// kube-controller-manager's CronJob controller does: in the CronJob's time
// zone, one Job per due time (named after its minute), its concurrency
// policy honoured, its history pruned to the limits.
package cronjob

import (
	"context"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/robfig/cron/v3"
	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

var cronJobKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// Controller reconciles CronJobs.
type Controller struct {
	client   kubernetes.Interface
	cronJobs batchlisters.CronJobLister
	jobs     batchlisters.JobLister
	recorder record.EventRecorder
	queue    kube.Queue[string]
	loop     *kube.Loop[string]
	now      func() time.Time
}

// New wires the controller; it starts nothing.
func New(client kubernetes.Interface, cjInf batchinformers.CronJobInformer, jobInf batchinformers.JobInformer, recorder record.EventRecorder, log *slog.Logger, now func() time.Time) *Controller {
	c := &Controller{client: client, cronJobs: cjInf.Lister(), jobs: jobInf.Lister(), recorder: recorder, now: now}
	c.queue = kube.NewQueue[string]("cronjob")
	c.loop = &kube.Loop[string]{Name: "cronjob", Queue: c.queue, Sync: c.sync, Workers: 2, Log: log,
		Synced: []cache.InformerSynced{cjInf.Informer().HasSynced, jobInf.Informer().HasSynced}}
	_, _ = cjInf.Informer().AddEventHandler(kube.EnqueueHandler(c.queue))
	_, _ = jobInf.Informer().AddEventHandler(kube.OwnerHandler(c.queue, "CronJob"))
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.loop.Run(ctx) }

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	cj, err := c.cronJobs.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || cj.DeletionTimestamp != nil {
		return err
	}
	sched, loc, err := cronSchedule(&cj.Spec)
	if err != nil {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnparseableSchedule", "unparseable schedule: %q : %v", cj.Spec.Schedule, err)
		return nil
	}
	all, err := c.jobs.Jobs(ns).List(labels.Everything())
	if err != nil {
		return err
	}
	var mine []*batchv1.Job
	for _, j := range all {
		if ref := metav1.GetControllerOf(j); ref != nil && ref.UID == cj.UID {
			mine = append(mine, j)
		}
	}
	now := c.now()
	plan := Reconcile(cj, sched, loc, mine, now)
	bg := metav1.DeletePropagationBackground
	for _, j := range plan.Replace {
		if err := c.client.BatchV1().Jobs(ns).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %s", j.Name)
	}
	if plan.Skipped == "forbid" {
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
	}
	if !plan.Run.IsZero() {
		job := JobFor(cj, plan.Run, podutil.OwnerRef(cj, cronJobKind))
		created, err := c.client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{})
		switch {
		case apierrors.IsAlreadyExists(err):
		case err != nil:
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
			return err
		default:
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %s", created.Name)
			plan.Status.Active = append(plan.Status.Active, corev1.ObjectReference{Kind: "Job", Namespace: ns, Name: created.Name, UID: created.UID,
				APIVersion: "batch/v1", ResourceVersion: created.ResourceVersion})
		}
	}
	for _, j := range plan.Prune {
		if err := c.client.BatchV1().Jobs(ns).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s", j.Name)
	}
	if !apiequality.Semantic.DeepEqual(cj.Status, plan.Status) {
		upd := cj.DeepCopy()
		upd.Status = plan.Status
		if _, err := c.client.BatchV1().CronJobs(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	if !plan.Next.IsZero() {
		c.queue.AddAfter(key, plan.Next.Sub(now)+100*time.Millisecond)
	}
	return nil
}

// cronSchedule parses the schedule in the CronJob's time zone (UTC when
// it names none, as kube-controller-manager runs in UTC).
func cronSchedule(s *batchv1.CronJobSpec) (cron.Schedule, *time.Location, error) {
	loc := time.UTC
	if s.TimeZone != nil {
		l, err := time.LoadLocation(*s.TimeZone)
		if err != nil {
			return nil, nil, err
		}
		loc = l
	}
	sched, err := cron.ParseStandard(s.Schedule)
	return sched, loc, err
}
