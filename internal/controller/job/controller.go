// Package job runs Jobs' pods to completion, as kube-controller-manager's
// job controller does (NonIndexed completion): Reconcile decides, the
// controller creates and deletes pods, writes the status and conditions
// (`kubectl wait --for=condition=complete`), posts events, and deletes a
// finished Job after its ttlSecondsAfterFinished.
package job

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	batchinformers "k8s.io/client-go/informers/batch/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

var jobKind = batchv1.SchemeGroupVersion.WithKind("Job")

// Controller reconciles Jobs.
type Controller struct {
	client   kubernetes.Interface
	jobs     batchlisters.JobLister
	podIndex cache.SharedIndexInformer
	recorder record.EventRecorder
	exp      *kube.Expectations
	queue    kube.Queue[string]
	loop     *kube.Loop[string]
	now      func() time.Time
}

// New wires the controller; it starts nothing.
func New(client kubernetes.Interface, jobInf batchinformers.JobInformer, podInf coreinformers.PodInformer, recorder record.EventRecorder, log *slog.Logger, now func() time.Time) *Controller {
	c := &Controller{client: client, jobs: jobInf.Lister(), podIndex: podInf.Informer(), recorder: recorder, exp: kube.NewExpectations(time.Minute, now), now: now}
	podutil.IndexByController(podInf.Informer())
	c.queue = kube.NewQueue[string]("job")
	c.loop = &kube.Loop[string]{Name: "job", Queue: c.queue, Sync: c.sync, Workers: 4, Log: log,
		Synced: []cache.InformerSynced{jobInf.Informer().HasSynced, podInf.Informer().HasSynced}}
	_, _ = jobInf.Informer().AddEventHandler(kube.EnqueueHandler(c.queue))
	owner := func(obj interface{}) (string, bool) { return kube.OwnerKey(obj, "Job") }
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) {
			if key, ok := owner(obj); ok {
				c.exp.Observed(key, true)
				c.queue.Add(key)
			}
		},
		UpdateFunc: func(_, obj interface{}) {
			if key, ok := owner(obj); ok {
				c.queue.Add(key)
			}
		},
		DeleteFunc: func(obj interface{}) {
			if key, ok := owner(obj); ok {
				c.exp.Observed(key, false)
				c.queue.Add(key)
			}
		},
	})
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.loop.Run(ctx) }

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	j, err := c.jobs.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return nil
	}
	if err != nil {
		return err
	}
	if j.DeletionTimestamp != nil {
		return nil
	}
	now := c.now()
	if finished(j) {
		return c.expire(ctx, key, j, now)
	}
	plan := Reconcile(j, podutil.Owned(c.podIndex, j.UID), now)
	if c.exp.Satisfied(key) {
		if err := c.apply(ctx, key, j, plan); err != nil {
			return err
		}
	}
	if plan.Recheck > 0 {
		c.queue.AddAfter(key, plan.Recheck)
	}
	if apiequality.Semantic.DeepEqual(j.Status, plan.Status) {
		return nil
	}
	upd := j.DeepCopy()
	upd.Status = plan.Status
	if _, err := c.client.BatchV1().Jobs(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return err
	}
	if f := plan.Finished; f != nil {
		if f.Type == batchv1.JobComplete {
			c.recorder.Event(j, corev1.EventTypeNormal, "Completed", "Job completed")
		} else {
			c.recorder.Event(j, corev1.EventTypeWarning, f.Reason, f.Message)
		}
	}
	return nil
}

func (c *Controller) apply(ctx context.Context, key string, j *batchv1.Job, plan Plan) error {
	if plan.Create == 0 && len(plan.Delete) == 0 {
		return nil
	}
	c.exp.Expect(key, plan.Create, len(plan.Delete))
	ref := podutil.OwnerRef(j, jobKind)
	for i := 0; i < plan.Create; i++ {
		pod := podutil.FromTemplate(&j.Spec.Template, j.Namespace, ref)
		pod.GenerateName = j.Name + "-"
		created, err := c.client.CoreV1().Pods(j.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			c.exp.Observed(key, true)
			c.recorder.Eventf(j, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
			return fmt.Errorf("create pod for %s: %w", key, err)
		}
		c.recorder.Eventf(j, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	}
	for _, p := range plan.Delete {
		err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
		if err != nil {
			c.exp.Observed(key, false)
			if !apierrors.IsNotFound(err) {
				return fmt.Errorf("delete pod %s: %w", p.Name, err)
			}
			continue
		}
		c.recorder.Eventf(j, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
	}
	return nil
}

// expire deletes a finished Job once its ttlSecondsAfterFinished has
// passed (its pods go with it, by owner reference).
func (c *Controller) expire(ctx context.Context, key string, j *batchv1.Job, now time.Time) error {
	if j.Spec.TTLSecondsAfterFinished == nil {
		return nil
	}
	var end time.Time
	for _, cond := range j.Status.Conditions {
		if (cond.Type == batchv1.JobComplete || cond.Type == batchv1.JobFailed) && cond.Status == corev1.ConditionTrue {
			end = cond.LastTransitionTime.Time
		}
	}
	at := end.Add(time.Duration(*j.Spec.TTLSecondsAfterFinished) * time.Second)
	if wait := at.Sub(now); wait > 0 {
		c.queue.AddAfter(key, wait)
		return nil
	}
	bg := metav1.DeletePropagationBackground
	err := c.client.BatchV1().Jobs(j.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &bg, Preconditions: &metav1.Preconditions{UID: &j.UID}})
	if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
		return nil
	}
	return err
}
