// Package tainteviction deletes pods from nodes with NoExecute taints they
// do not tolerate, as kube-controller-manager's taint-eviction controller
// does: at once when a taint is not tolerated, after the shortest
// tolerationSeconds when all are (counted from the taint's timeAdded),
// never when they are tolerated without a limit. Deleted pods are replaced
// by their controllers on nodes the scheduler still picks.
package tainteviction

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"

	"github.com/svcnet/svcnet/internal/kube"
)

// EvictionTime says when pod must leave a node with taints: ok false when
// it may stay (no NoExecute taint, or all tolerated without a limit).
// Without a timeAdded, a taint counts from seen.
func EvictionTime(pod *corev1.Pod, taints []corev1.Taint, seen time.Time) (at time.Time, ok bool) {
	var limit *time.Duration
	start := time.Time{}
	for i := range taints {
		taint := &taints[i]
		if taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		added := seen
		if taint.TimeAdded != nil {
			added = taint.TimeAdded.Time
		}
		if start.IsZero() || added.Before(start) {
			start = added
		}
		tolerated := false
		for _, t := range pod.Spec.Tolerations {
			if !t.ToleratesTaint(klog.Background(), taint, true) {
				continue
			}
			tolerated = true
			if t.TolerationSeconds != nil {
				d := time.Duration(max(*t.TolerationSeconds, 0)) * time.Second
				if limit == nil || d < *limit {
					limit = &d
				}
			}
		}
		if !tolerated {
			return added, true
		}
	}
	if limit == nil {
		return time.Time{}, false
	}
	return start.Add(*limit), true
}

// Controller evicts pods by their nodes' NoExecute taints.
type Controller struct {
	client   kubernetes.Interface
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	podInf   cache.SharedIndexInformer
	recorder record.EventRecorder
	log      *slog.Logger
	now      func() time.Time
	queue    kube.Queue[string]
	loop     *kube.Loop[string]

	mu        sync.Mutex
	scheduled map[string]time.Time // pod key → when it is to be evicted
}

// New wires the controller; it starts nothing.
func New(client kubernetes.Interface, podInf coreinformers.PodInformer, nodeInf coreinformers.NodeInformer, recorder record.EventRecorder, log *slog.Logger, now func() time.Time) *Controller {
	kube.IndexPodsByNode(podInf.Informer())
	c := &Controller{client: client, pods: podInf.Lister(), nodes: nodeInf.Lister(), podInf: podInf.Informer(), recorder: recorder, log: log, now: now,
		scheduled: map[string]time.Time{}}
	c.queue = kube.NewQueue[string]("tainteviction")
	c.loop = &kube.Loop[string]{Name: "tainteviction", Queue: c.queue, Sync: c.sync, Workers: 4, Log: log,
		Synced: []cache.InformerSynced{podInf.Informer().HasSynced, nodeInf.Informer().HasSynced}}
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { kube.Enqueue(c.queue, obj) },
		UpdateFunc: func(_, obj interface{}) { kube.Enqueue(c.queue, obj) },
	})
	onNode := func(obj interface{}) {
		if n, ok := obj.(*corev1.Node); ok {
			for _, p := range kube.PodsOnNode(c.podInf, n.Name) {
				kube.Enqueue(c.queue, p)
			}
		}
	}
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onNode,
		UpdateFunc: func(old, obj interface{}) {
			if !taintsEqual(old.(*corev1.Node).Spec.Taints, obj.(*corev1.Node).Spec.Taints) {
				onNode(obj)
			}
		},
	})
	return c
}

func taintsEqual(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || a[i].Value != b[i].Value || a[i].Effect != b[i].Effect {
			return false
		}
	}
	return true
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.loop.Run(ctx) }

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	pod, err := c.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) || err == nil && (pod.DeletionTimestamp != nil || pod.Spec.NodeName == "") {
		c.unschedule(key, nil)
		return nil
	}
	if err != nil {
		return err
	}
	node, err := c.nodes.Get(pod.Spec.NodeName)
	if err != nil {
		c.unschedule(key, nil)
		return nil
	}
	now := c.now()
	at, evict := EvictionTime(pod, node.Spec.Taints, now)
	if !evict {
		c.unschedule(key, pod)
		return nil
	}
	if wait := at.Sub(now); wait > 0 {
		c.mu.Lock()
		c.scheduled[key] = at
		c.mu.Unlock()
		c.queue.AddAfter(key, wait)
		return nil
	}
	return c.evict(ctx, key, pod)
}

// unschedule forgets a planned eviction; pod, when given, hears that it
// is called off.
func (c *Controller) unschedule(key string, pod *corev1.Pod) {
	c.mu.Lock()
	_, had := c.scheduled[key]
	delete(c.scheduled, key)
	c.mu.Unlock()
	if had && pod != nil {
		c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Cancelling deletion of Pod %s", key)
	}
}

// evict marks the pod as disrupted and deletes it (gracefully: its node,
// if it returns, stops it).
func (c *Controller) evict(ctx context.Context, key string, pod *corev1.Pod) error {
	c.recorder.Eventf(pod, corev1.EventTypeNormal, "TaintManagerEviction", "Marking for deletion Pod %s", key)
	cond := corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByTaintManager",
		Message: "Taint manager: deleting due to NoExecute taint", LastTransitionTime: metav1.NewTime(c.now())}
	if err := kube.PatchPodCondition(ctx, c.client, pod, cond, ""); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("mark %s disrupted: %w", key, err)
	}
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("evict %s: %w", key, err)
	}
	c.mu.Lock()
	delete(c.scheduled, key)
	c.mu.Unlock()
	c.log.Info("evicted pod from a tainted node", "pod", key, "node", pod.Spec.NodeName)
	return nil
}
