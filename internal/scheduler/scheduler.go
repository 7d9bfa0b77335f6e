// Package scheduler binds unscheduled pods to nodes: the least-loaded Ready,
// schedulable node that the pod's nodeSelector accepts. One runs per cluster
// (under the controllers' leader election).
package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

// Pick chooses a node for pod: among Ready nodes that match the pod's
// nodeSelector and required node affinity and whose NoSchedule and
// NoExecute taints (a cordon's among them) it tolerates, the one with the
// fewest active pods (name breaks ties).
// load counts active pods per node name.
func Pick(pod *corev1.Pod, nodes []*corev1.Node, load map[string]int) (string, error) {
	return leastLoaded(fitting(pod, nodes), load, len(nodes))
}

// fitting are the Ready nodes the pod may go to (its node selector,
// affinity and tolerations), whatever their load: it reads no scheduler
// state, so it runs outside the scheduler's lock.
func fitting(pod *corev1.Pod, nodes []*corev1.Node) []*corev1.Node {
	fit := make([]*corev1.Node, 0, len(nodes))
	for _, n := range nodes {
		if nodeReady(n) && n.DeletionTimestamp == nil && podutil.FitsNode(pod, n) {
			fit = append(fit, n)
		}
	}
	return fit
}

// leastLoaded is the fitting node with the fewest pods and room for one
// more (ties by name), in one pass: it runs under the scheduler's lock.
func leastLoaded(fit []*corev1.Node, load map[string]int, all int) (string, error) {
	best, bestLoad := "", 0
	for _, n := range fit {
		l := load[n.Name]
		if q, ok := n.Status.Allocatable[corev1.ResourcePods]; ok && int64(l) >= q.Value() {
			continue // full
		}
		if best == "" || l < bestLoad || l == bestLoad && n.Name < best {
			best, bestLoad = n.Name, l
		}
	}
	if best == "" {
		return "", fmt.Errorf("0/%d nodes are available", all)
	}
	return best, nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// bindWorkers is how many pods are being bound at once.
const bindWorkers = 32

// Scheduler watches pods and nodes.
type Scheduler struct {
	client   kubernetes.Interface
	pods     corelisters.PodLister
	nodes    corelisters.NodeLister
	loop     *kube.Loop[string]
	recorder record.EventRecorder
	log      *slog.Logger
	mu       sync.Mutex
	// load counts the active pods bound to each node, kept from pod events.
	load map[string]int
	// bound remembers where each counted pod is, to uncount it.
	bound map[types.UID]string
}

// New wires the scheduler; it starts nothing.
func New(client kubernetes.Interface, podInf coreinformers.PodInformer, nodeInf coreinformers.NodeInformer, recorder record.EventRecorder, log *slog.Logger) *Scheduler {
	s := &Scheduler{client: client, pods: podInf.Lister(), nodes: nodeInf.Lister(), recorder: recorder, log: log, load: map[string]int{}, bound: map[types.UID]string{}}
	q := kube.NewQueue[string]("scheduler")
	// A sync spends most of its time waiting for its binding write: as
	// kube-scheduler binds asynchronously, many bind at once (the pick
	// itself is serialized by s.mu).
	s.loop = &kube.Loop[string]{Name: "scheduler", Queue: q, Sync: s.sync, Workers: bindWorkers, Log: log,
		Synced: []cache.InformerSynced{podInf.Informer().HasSynced, nodeInf.Informer().HasSynced}}
	pending := func(obj interface{}) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName == "" && p.DeletionTimestamp == nil &&
			(p.Spec.SchedulerName == "" || p.Spec.SchedulerName == corev1.DefaultSchedulerName) {
			kube.Enqueue(q, p)
		}
	}
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { s.count(obj); pending(obj) },
		UpdateFunc: func(_, obj interface{}) { s.count(obj); pending(obj) },
		DeleteFunc: func(obj interface{}) { s.uncount(obj) },
	})
	// A node that becomes ready, schedulable or loses a taint may fit pods
	// that waited.
	_, _ = nodeInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(interface{}) { s.requeueAll(q.Add) },
		UpdateFunc: func(old, obj interface{}) {
			o, n := old.(*corev1.Node), obj.(*corev1.Node)
			if nodeReady(o) != nodeReady(n) || o.Spec.Unschedulable != n.Spec.Unschedulable || len(o.Spec.Taints) != len(n.Spec.Taints) {
				s.requeueAll(q.Add)
			}
		},
	})
	return s
}

func (s *Scheduler) requeueAll(add func(string)) {
	pods, _ := s.pods.List(labels.Everything())
	for _, p := range pods {
		if p.Spec.NodeName == "" && p.DeletionTimestamp == nil {
			add(p.Namespace + "/" + p.Name)
		}
	}
}

// Run works until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error { return s.loop.Run(ctx) }

func (s *Scheduler) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	pod, err := s.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) || (err == nil && (pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil)) {
		return nil
	}
	if err != nil {
		return err
	}
	nodes, err := s.nodes.List(labels.Everything())
	if err != nil {
		return err
	}
	// Filter outside the lock; pick and reserve under it, so concurrent
	// workers never put more pods on a node than it holds.
	fit := fitting(pod, nodes)
	s.mu.Lock()
	if _, done := s.bound[pod.UID]; done {
		s.mu.Unlock()
		return nil
	}
	node, err := leastLoaded(fit, s.load, len(nodes))
	if err == nil {
		s.bound[pod.UID] = node
		s.load[node]++
	}
	s.mu.Unlock()
	if err != nil {
		s.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedScheduling", "%v", err)
		return fmt.Errorf("pod %s unschedulable: %w", key, err)
	}
	patch := fmt.Sprintf(`{"metadata":{"uid":%q},"spec":{"nodeName":%q}}`, pod.UID, node)
	if _, err := s.client.CoreV1().Pods(ns).Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		// Give the reservation back; the pod's events will recount it if it was bound after all.
		s.mu.Lock()
		if s.bound[pod.UID] == node {
			delete(s.bound, pod.UID)
			s.load[node]--
		}
		s.mu.Unlock()
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	s.recorder.Eventf(pod, corev1.EventTypeNormal, "Scheduled", "Successfully assigned %s/%s to %s", ns, name, node)
	return nil
}

// count keeps the per-node load: an active bound pod counts once.
func (s *Scheduler) count(obj interface{}) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	node, counted := s.bound[p.UID]
	active := p.Spec.NodeName != "" && podutil.IsActive(p)
	switch {
	case active && !counted:
		s.bound[p.UID] = p.Spec.NodeName
		s.load[p.Spec.NodeName]++
	case !active && counted && p.Spec.NodeName != "":
		delete(s.bound, p.UID)
		s.load[node]--
	}
}

func (s *Scheduler) uncount(obj interface{}) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if node, ok := s.bound[p.UID]; ok {
		delete(s.bound, p.UID)
		s.load[node]--
	}
}
