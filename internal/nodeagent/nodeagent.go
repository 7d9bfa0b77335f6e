// Package nodeagent is the kubelet of svcnet: it registers a Node, keeps its
// Lease and Ready condition fresh, gives each pod bound to it a unique IP
// from the node's pod CIDR, and runs the pod through a runtime. The sim
// runtime runs nothing: pods become Running and Ready after --sim-ready-after;
// the process runtime (package process) runs each container as a process.
package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	corev1informers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"

	"github.com/svcnet/svcnet/internal/kube"
	"github.com/svcnet/svcnet/internal/poddns"

	"github.com/svcnet/svcnet/internal/version"
)

// Config of one node.
type Config struct {
	NodeName string
	// Labels are put on the Node (e.g. topology.kubernetes.io/zone).
	Labels map[string]string
	// InternalIP is the node's address (status.hostIP of its pods).
	InternalIP string
	// ReadyAfter delays readiness of new pods (sim runtime).
	ReadyAfter time.Duration
	// ClusterDomain is the cluster's DNS zone (default cluster.local).
	ClusterDomain string
	// ResolvConf is the node's own resolver file (default /etc/resolv.conf):
	// its search path follows the cluster's in pods' files, and Default
	// pods get it whole.
	ResolvConf string
	// LeaseDuration of the node heartbeat.
	LeaseDuration time.Duration
	// Runtime runs the pods; nil simulates them.
	Runtime Runtime
	// RuntimeName is shown as the node's container runtime ("sim").
	RuntimeName string
	// LogPort, when set, is published as the node's kubelet endpoint: where
	// its pods' logs are served (on InternalIP).
	LogPort int32
	// Services, when set, is an informer the agent shares with other nodes
	// of the same process (`svcnet agent --nodes`); nil: its own.
	Services corev1informers.ServiceInformer
}

// Runtime runs the pods bound to the node.
type Runtime interface {
	// Sync runs what the pod should run and returns its status; wait > 0
	// asks for another Sync after it.
	Sync(pod *corev1.Pod, ips []netip.Addr, hostIP string, now time.Time) (corev1.PodStatus, time.Duration)
	// Stop ends the pod's containers; true once none runs (until then the
	// runtime asks for syncs as they end).
	Stop(pod *corev1.Pod, now time.Time) bool
}

// simRuntime runs nothing (SimStatus).
type simRuntime struct{ readyAfter time.Duration }

func (r simRuntime) Sync(pod *corev1.Pod, ips []netip.Addr, hostIP string, now time.Time) (corev1.PodStatus, time.Duration) {
	return SimStatus(pod, ips, hostIP, r.readyAfter, now)
}

func (simRuntime) Stop(*corev1.Pod, time.Time) bool { return true }

// Agent runs one node.
type Agent struct {
	cfg    Config
	client kubernetes.Interface
	log    *slog.Logger
	now    func() time.Time

	// gone are pods deleted from the API before the agent stopped them (a
	// force delete, a namespace deletion), by key, until their processes end.
	goneMu   sync.Mutex
	gone     map[string]*corev1.Pod
	cidrs    []netip.Prefix
	ips      *IPPool
	pods     corelisters.PodLister
	services corelisters.ServiceLister
	queue    atomic.Pointer[kube.Loop[string]]
	started  time.Time
	// recorder posts the node's and its pods' Events, as a kubelet's.
	recorder record.EventRecorder
	killing  sync.Map // pod UID → time.Time the node began stopping it (Killing said)
}

// Enqueue asks for a pod to be synced (a runtime's process ended, a probe
// changed); before Run it does nothing.
func (a *Agent) Enqueue(namespace, name string) {
	if l := a.queue.Load(); l != nil {
		l.Queue.Add(namespace + "/" + name)
	}
}

// New checks the config; it starts nothing.
func New(cfg Config, client kubernetes.Interface, log *slog.Logger, now func() time.Time) (*Agent, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("nodeagent: empty node name")
	}
	if cfg.InternalIP == "" {
		cfg.InternalIP = "127.0.0.1"
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = 40 * time.Second
	}
	if cfg.ClusterDomain == "" {
		cfg.ClusterDomain = "cluster.local"
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if cfg.Runtime == nil {
		cfg.Runtime, cfg.RuntimeName = simRuntime{readyAfter: cfg.ReadyAfter}, "sim"
	}
	return &Agent{cfg: cfg, client: client, log: log.With("node", cfg.NodeName), now: now, gone: map[string]*corev1.Pod{}}, nil
}

// Run registers the node and manages its pods until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	a.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: a.cfg.NodeName})
	if !a.registerUntilDone(ctx) {
		return nil
	}
	nodeRef := &corev1.ObjectReference{Kind: "Node", Name: a.cfg.NodeName, UID: types.UID(a.cfg.NodeName)}
	a.recorder.Event(nodeRef, corev1.EventTypeNormal, "Starting", "Starting kubelet.")
	a.recorder.Eventf(nodeRef, corev1.EventTypeNormal, "NodeReady", "Node %s status is now: NodeReady", a.cfg.NodeName)
	a.ips = NewIPPool(a.cidrs)
	a.started = a.now()
	factory := informers.NewSharedInformerFactoryWithOptions(a.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String()
	}), informers.WithTransform(kube.StripManagedFields))
	podInf := factory.Core().V1().Pods()
	a.pods = podInf.Lister()
	q := kube.NewQueue[string]("nodeagent")
	loop := &kube.Loop[string]{Name: "nodeagent", Queue: q, Sync: a.syncPod, Workers: 4, Log: a.log, Synced: []cache.InformerSynced{podInf.Informer().HasSynced}}
	a.queue.Store(loop)
	// Services, for the environment of process pods.
	all := informers.NewSharedInformerFactoryWithOptions(a.client, 0, informers.WithTransform(kube.StripManagedFields))
	svcInf := a.cfg.Services
	if svcInf == nil {
		svcInf = all.Core().V1().Services()
	}
	a.services = svcInf.Lister()
	loop.Synced = append(loop.Synced, svcInf.Informer().HasSynced)
	_, _ = podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { kube.Enqueue(q, obj) },
		UpdateFunc: func(_, obj interface{}) { kube.Enqueue(q, obj) },
		DeleteFunc: func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p, ok := obj.(*corev1.Pod); ok {
				// Gone without us: the loop ends what still runs, then frees the IPs.
				a.goneMu.Lock()
				a.gone[p.Namespace+"/"+p.Name] = p
				a.goneMu.Unlock()
				kube.Enqueue(q, p)
			}
		},
	})
	factory.Start(ctx.Done())
	all.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), loop.Synced...) {
		return nil
	}
	// Keep the addresses of pods that already run here.
	pods, _ := a.pods.List(labels.Everything())
	for _, p := range pods {
		for _, ip := range p.Status.PodIPs {
			if addr, err := netip.ParseAddr(ip.IP); err == nil {
				a.ips.Hold(p.UID, addr)
			}
		}
	}
	go a.heartbeat(ctx)
	return loop.Run(ctx)
}

// registerUntilDone registers the node, trying again (as a kubelet does)
// until it has a Node with a pod CIDR or ctx ends: the API may be away, a
// controller may write the Node at the same moment (a conflict), or, with
// a real Kubernetes control plane, the pod CIDR may come a little later.
func (a *Agent) registerUntilDone(ctx context.Context) bool {
	backoff := wait.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: math.MaxInt32, Cap: 10 * time.Second}
	for ctx.Err() == nil {
		node, err := a.register(ctx)
		waitingForCIDR := err == nil && len(a.cidrs) == 0
		if err == nil && !waitingForCIDR {
			return true
		}
		d := backoff.Step()
		switch {
		case ctx.Err() != nil:
		case waitingForCIDR:
			// Registered: the controller-manager has not given it a pod CIDR
			// yet (on a real cluster it takes a moment).
			a.log.Info("node registered; waiting for its pod CIDR", "node", node.Name, "in", d.Round(time.Millisecond))
		default:
			a.log.Warn("node registration failed; trying again", "node", a.cfg.NodeName, "err", err, "in", d.Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(d):
		}
	}
	return false
}

func (a *Agent) register(ctx context.Context) (*corev1.Node, error) {
	nodes := a.client.CoreV1().Nodes()
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: map[string]string{
			"kubernetes.io/hostname": a.cfg.NodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
		}},
	}
	for k, v := range a.cfg.Labels {
		want.Labels[k] = v
	}
	node, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			var err error
			node, err = nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			changed := false
			for k, v := range want.Labels {
				if node.Labels[k] != v {
					if node.Labels == nil {
						node.Labels = map[string]string{}
					}
					node.Labels[k] = v
					changed = true
				}
			}
			if changed {
				node, err = nodes.Update(ctx, node, metav1.UpdateOptions{})
			}
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("register node %s: %w", a.cfg.NodeName, err)
	}
	a.cidrs = nil
	for _, c := range node.Spec.PodCIDRs {
		if p, err := netip.ParsePrefix(c); err == nil {
			a.cidrs = append(a.cidrs, p)
		}
	}
	if err := a.updateNodeStatus(ctx); err != nil {
		return nil, err
	}
	return node, nil
}

// updateNodeStatus posts the Ready condition, addresses and capacity; a
// conflict (a controller wrote the Node meanwhile) is tried again at once.
func (a *Agent) updateNodeStatus(ctx context.Context) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error { return a.tryUpdateNodeStatus(ctx) })
}

func (a *Agent) tryUpdateNodeStatus(ctx context.Context) error {
	nodes := a.client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.NewTime(a.now())
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message: "svcnet node agent is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			ready.LastTransitionTime = c.LastTransitionTime
		}
	}
	node.Status.Conditions = []corev1.NodeCondition{ready}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: a.cfg.InternalIP}, {Type: corev1.NodeHostName, Address: a.cfg.NodeName}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = a.cfg.LogPort
	node.Status.NodeInfo = corev1.NodeSystemInfo{KubeletVersion: version.Svcnet, ContainerRuntimeVersion: "svcnet://" + a.cfg.RuntimeName, OperatingSystem: "linux", Architecture: "amd64", OSImage: "svcnet"}
	node.Status.Capacity = corev1.ResourceList{corev1.ResourcePods: resourceQuantity(PodCapacity(a.cidrs))}
	node.Status.Allocatable = node.Status.Capacity
	_, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

// heartbeat renews the node Lease and, less often, the Ready condition.
// As the kubelet's lease controller, it renews the Lease it last wrote
// and reads it again only after a failed write.
func (a *Agent) heartbeat(ctx context.Context) {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	secs := int32(a.cfg.LeaseDuration / time.Second)
	tick := time.NewTicker(a.cfg.LeaseDuration / 4)
	defer tick.Stop()
	beats := 0
	var l *coordinationv1.Lease
	for {
		now := metav1.NewMicroTime(a.now())
		var err error
		if l == nil {
			l, err = leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		}
		switch {
		case apierrors.IsNotFound(err):
			l, err = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: &a.cfg.NodeName, LeaseDurationSeconds: &secs, RenewTime: &now},
			}, metav1.CreateOptions{})
		case err == nil:
			l.Spec.RenewTime, l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds = &now, &a.cfg.NodeName, &secs
			l, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
		if err != nil {
			l = nil
			if ctx.Err() == nil {
				a.log.Warn("node lease renewal failed", "err", err)
			}
		}
		if beats++; beats%4 == 0 {
			if err := a.updateNodeStatus(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("node status update failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (a *Agent) syncPod(ctx context.Context, key string) error {
	a.stopGone(key)
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	pod, err := a.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if pod.DeletionTimestamp != nil {
		began, said := a.killing.LoadOrStore(pod.UID, a.now())
		if !said {
			for _, c := range pod.Spec.Containers {
				a.event(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.Name)
			}
		}
		// The pod is gone once the runtime has stopped its containers.
		if !a.cfg.Runtime.Stop(pod, a.now()) {
			return nil // the runtime asks for a sync as they end
		}
		if left := removalDelay(pod.UID) - a.now().Sub(began.(time.Time)); left > 0 && pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds > 0 {
			a.queue.Load().Queue.AddAfter(key, left)
			return nil
		}
		zero := int64(0)
		err := a.client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if err == nil || apierrors.IsNotFound(err) {
			a.ips.Release(pod.UID)
			a.killing.Delete(pod.UID)
			return nil
		}
		return err
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	ips, err := a.ips.Assign(pod.UID)
	if err != nil {
		return err
	}
	status, wait := a.cfg.Runtime.Sync(pod, ips, a.cfg.InternalIP, a.now())
	if wait > 0 {
		a.queue.Load().Queue.AddAfter(key, wait)
	}
	if apiequality.Semantic.DeepEqual(pod.Status, status) {
		return nil
	}
	a.containerEvents(pod, status)
	upd := pod.DeepCopy()
	upd.Status = status
	_, err = a.client.CoreV1().Pods(ns).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	return err
}

// Event posts an Event about a pod, as its kubelet (the runtime's probe
// failures).
func (a *Agent) Event(pod *corev1.Pod, typ, reason, message string) {
	a.event(pod, typ, reason, "%s", message)
}

// event posts an Event about a pod (nothing before Run).
func (a *Agent) event(pod *corev1.Pod, typ, reason, format string, args ...any) {
	if a.recorder != nil {
		a.recorder.Eventf(pod, typ, reason, format, args...)
	}
}

// containerEvents says what changed between a pod's posted status and the
// runtime's, as a kubelet does: a container started (Pulled, Created,
// Started), backing off, or unable to start.
func (a *Agent) containerEvents(pod *corev1.Pod, next corev1.PodStatus) {
	old := map[string]corev1.ContainerStatus{}
	for _, cs := range pod.Status.ContainerStatuses {
		old[cs.Name] = cs
	}
	for _, cs := range next.ContainerStatuses {
		was, had := old[cs.Name]
		switch {
		case cs.State.Running != nil && (!had || was.State.Running == nil || !was.State.Running.StartedAt.Equal(&cs.State.Running.StartedAt)):
			a.event(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", cs.Image)
			a.event(pod, corev1.EventTypeNormal, "Created", "Created container: %s", cs.Name)
			a.event(pod, corev1.EventTypeNormal, "Started", "Started container %s", cs.Name)
		case cs.State.Waiting != nil && (!had || was.State.Waiting == nil || was.State.Waiting.Reason != cs.State.Waiting.Reason):
			switch cs.State.Waiting.Reason {
			case "CrashLoopBackOff":
				a.event(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", cs.Name, pod.Name)
			case "CreateContainerConfigError", "RunContainerError":
				a.event(pod, corev1.EventTypeWarning, "Failed", "Error: %s", cs.State.Waiting.Message)
			}
		}
	}
}

// goneRecheck is how soon a pod deleted from under the agent is looked at
// again while its processes end (the runtime also asks for a sync when
// they do).
const goneRecheck = time.Second

// stopGone ends the containers of a pod deleted from the API under key,
// and frees its addresses once none runs.
func (a *Agent) stopGone(key string) {
	a.goneMu.Lock()
	p := a.gone[key]
	a.goneMu.Unlock()
	if p == nil {
		return
	}
	if !a.cfg.Runtime.Stop(p, a.now()) {
		a.queue.Load().Queue.AddAfter(key, goneRecheck)
		return
	}
	a.ips.Release(p.UID)
	a.goneMu.Lock()
	if a.gone[key] == p {
		delete(a.gone, key)
	}
	a.goneMu.Unlock()
}

// PodRemovalDelay: a pod deleted with a grace period is removed no sooner
// than this (plus up to half a second, by pod) after its node began
// stopping it, as a kubelet's pod workers (which notice that containers
// ended at their next relist, each second) remove pods, each in its own
// time. A client waiting for a deletion (kubectl delete) then sees the pod
// go before its controller's replacement of the same name (a
// StatefulSet's) comes: kubectl checks the pods it deleted one after the
// other, and one removed and replaced between its get and its list is
// waited for for ever.
const PodRemovalDelay = time.Second

// removalDelay is PodRemovalDelay and the pod's own share of the spread.
func removalDelay(uid types.UID) time.Duration {
	h := fnv.New32a()
	_, _ = h.Write([]byte(uid))
	return PodRemovalDelay + time.Duration(h.Sum32()%500)*time.Millisecond
}

// SimRunTime is how long a simulated pod that runs to completion
// (restartPolicy Never or OnFailure) runs once ready, before it Succeeds.
const SimRunTime = time.Second

// SimStatus is the status a simulated pod has: Running with its IPs, its
// containers ready once readyAfter has passed since it started, and Ready
// when they are and every readiness gate condition is True; a pod that runs
// to completion Succeeds SimRunTime later. Conditions the
// agent does not own (readiness gates) are kept. wait > 0 asks to be called
// again when readiness is due.
func SimStatus(pod *corev1.Pod, ips []netip.Addr, hostIP string, readyAfter time.Duration, now time.Time) (corev1.PodStatus, time.Duration) {
	st := *pod.Status.DeepCopy()
	nowT := metav1.NewTime(now.Truncate(time.Second))
	if st.StartTime == nil {
		st.StartTime = &nowT
	}
	st.Phase = corev1.PodRunning
	SetAddresses(&st, ips, hostIP)
	var wait time.Duration
	containersReady := true
	if due := st.StartTime.Add(readyAfter); now.Before(due) {
		containersReady = false
		wait = due.Sub(now)
	}
	// A pod that runs to completion (a Job's) completes once it has run for
	// SimRunTime, as a program that does nothing would: exit code 0.
	finished := false
	if pod.Spec.RestartPolicy == corev1.RestartPolicyNever || pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure {
		if end := st.StartTime.Add(readyAfter + SimRunTime); !now.Before(end) {
			finished, containersReady, wait = true, false, 0
			st.Phase = corev1.PodSucceeded
		} else if wait == 0 || end.Sub(now) < wait {
			wait = end.Sub(now)
		}
	}
	var cs []corev1.ContainerStatus
	for _, c := range pod.Spec.Containers {
		started := !finished
		s := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "sim://" + c.Image, ContainerID: "sim://" + string(pod.UID) + "/" + c.Name,
			Ready: containersReady, Started: &started, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: *st.StartTime}}}
		if finished {
			s.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed",
				StartedAt: *st.StartTime, FinishedAt: nowT, ContainerID: s.ContainerID}}
		}
		for _, old := range pod.Status.ContainerStatuses {
			if old.Name == c.Name {
				s.RestartCount, s.LastTerminationState = old.RestartCount, old.LastTerminationState
			}
		}
		cs = append(cs, s)
	}
	st.ContainerStatuses = cs
	// Init containers ran nothing and completed; sidecars run.
	st.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		s := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: "sim://" + c.Image, ContainerID: "sim://" + string(pod.UID) + "/" + c.Name,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: *st.StartTime, FinishedAt: *st.StartTime}}}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways && !finished {
			started := true
			s.Started, s.Ready = &started, containersReady
			s.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: *st.StartTime}}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, s)
	}
	SetConditions(&st, pod, containersReady, now)
	return st, wait
}

// SetAddresses puts the node's and the pod's IPs into a status.
func SetAddresses(st *corev1.PodStatus, ips []netip.Addr, hostIP string) {
	st.HostIP, st.HostIPs = hostIP, []corev1.HostIP{{IP: hostIP}}
	st.PodIPs = nil
	for _, ip := range ips {
		st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip.String()})
	}
	st.PodIP = st.PodIPs[0].IP
}

// SetConditions sets the conditions a node agent owns: ContainersReady as
// given, Ready when the containers are and every readiness gate condition
// (set by others, kept) is True; scheduled, initialized and ready to start
// containers. A condition's transition time moves only when it changes.
func SetConditions(st *corev1.PodStatus, pod *corev1.Pod, containersReady bool, now time.Time) {
	SetConditionsInitialized(st, pod, true, containersReady, now)
}

// SetConditionsInitialized is SetConditions for a pod whose init
// containers may not all have completed (Initialized False,
// ContainersNotInitialized).
func SetConditionsInitialized(st *corev1.PodStatus, pod *corev1.Pod, initialized, containersReady bool, now time.Time) {
	nowT := metav1.NewTime(now.Truncate(time.Second))
	gates := true
	for _, g := range pod.Spec.ReadinessGates {
		ok := false
		for _, c := range st.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		gates = gates && ok
	}
	set := func(t corev1.PodConditionType, ok bool, reason string) {
		status := corev1.ConditionFalse
		if ok {
			status, reason = corev1.ConditionTrue, ""
		}
		for i := range st.Conditions {
			if st.Conditions[i].Type == t {
				if st.Conditions[i].Status != status {
					st.Conditions[i].Status, st.Conditions[i].LastTransitionTime, st.Conditions[i].Reason = status, nowT, reason
				}
				return
			}
		}
		st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: status, LastTransitionTime: nowT, Reason: reason})
	}
	set(corev1.PodReadyToStartContainers, true, "")
	set(corev1.PodInitialized, initialized, "ContainersNotInitialized")
	set(corev1.ContainersReady, containersReady, "ContainersNotReady")
	reason := "ContainersNotReady"
	if containersReady && !gates {
		reason = "ReadinessGatesNotReady"
	}
	set(corev1.PodReady, containersReady && gates, reason)
	set(corev1.PodScheduled, true, "")
}

// PodCapacity is how many pods a node can address: the usable addresses of
// its smallest pod CIDR (network, gateway and IPv4 broadcast excluded).
func PodCapacity(cidrs []netip.Prefix) int64 {
	capacity := int64(-1)
	for _, c := range cidrs {
		bits := min(c.Addr().BitLen()-c.Bits(), 20)
		n := int64(1)<<bits - 2
		if c.Addr().Is4() {
			n--
		}
		if capacity < 0 || n < capacity {
			capacity = n
		}
	}
	return max(capacity, 0)
}

// IPPool hands out pod IPs of a node's CIDRs, one per family, never two
// pods the same address while both exist.
type IPPool struct {
	mu     sync.Mutex
	cidrs  []netip.Prefix
	byPod  map[types.UID][]netip.Addr
	inUse  map[netip.Addr]types.UID
	cursor []netip.Addr
}

// NewIPPool builds a pool over the CIDRs (one per family).
func NewIPPool(cidrs []netip.Prefix) *IPPool {
	p := &IPPool{cidrs: cidrs, byPod: map[types.UID][]netip.Addr{}, inUse: map[netip.Addr]types.UID{}}
	for _, c := range cidrs {
		p.cursor = append(p.cursor, c.Masked().Addr().Next()) // .1 is the gateway
	}
	return p
}

// Hold records an address a pod already has.
func (p *IPPool) Hold(uid types.UID, ip netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byPod[uid] = append(p.byPod[uid], ip)
	p.inUse[ip] = uid
}

// Assign returns the pod's addresses, choosing them on first call.
func (p *IPPool) Assign(uid types.UID) ([]netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ips, ok := p.byPod[uid]; ok && len(ips) == len(p.cidrs) {
		return ips, nil
	}
	var out []netip.Addr
	for i, c := range p.cidrs {
		ip, err := p.next(i, c)
		if err != nil {
			return nil, err
		}
		p.inUse[ip] = uid
		out = append(out, ip)
	}
	p.byPod[uid] = out
	return out, nil
}

// next walks the CIDR from the cursor, skipping the network, gateway and
// broadcast addresses and addresses in use.
func (p *IPPool) next(i int, c netip.Prefix) (netip.Addr, error) {
	c = c.Masked()
	size := 1 << min(c.Addr().BitLen()-c.Bits(), 20)
	ip := p.cursor[i]
	for n := 0; n < size; n++ {
		ip = ip.Next()
		if !c.Contains(ip) {
			ip = c.Addr().Next().Next() // wrap to .2
		}
		last := !c.Contains(ip.Next())
		if _, used := p.inUse[ip]; !used && !(c.Addr().Is4() && last) {
			p.cursor[i] = ip
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("node pod CIDR %s is full", c)
}

// Release frees a pod's addresses.
func (p *IPPool) Release(uid types.UID) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ip := range p.byPod[uid] {
		if p.inUse[ip] == uid {
			delete(p.inUse, ip)
		}
	}
	delete(p.byPod, uid)
}

// DNSService is the Service whose ClusterIP pods resolve names with, as
// kubeadm names it.
const DNSService = "kube-dns"

// ConfigData reads a ConfigMap's (binaryData too) or a Secret's data for
// a pod's environment; found false when it does not exist.
func (a *Agent) ConfigData(namespace, kind, name string) (map[string]string, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]string{}
	var err error
	switch kind {
	case "ConfigMap":
		var cm *corev1.ConfigMap
		if cm, err = a.client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			for k, v := range cm.Data {
				out[k] = v
			}
			for k, v := range cm.BinaryData {
				out[k] = string(v)
			}
		}
	case "Secret":
		var sec *corev1.Secret
		if sec, err = a.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			for k, v := range sec.Data {
				out[k] = string(v)
			}
		}
	default:
		return nil, false, fmt.Errorf("no %s", kind)
	}
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	return out, err == nil, err
}

// ServiceAccountToken asks the API for a token of p's ServiceAccount bound
// to p (what a kubelet writes into a pod's projected token volume).
func (a *Agent) ServiceAccountToken(p *corev1.Pod, audiences []string, expirationSeconds int64) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := a.client.CoreV1().ServiceAccounts(p.Namespace).CreateToken(ctx, p.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &expirationSeconds,
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: p.Name, UID: p.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	return tr.Status.Token, nil
}

// ClaimDir is the directory of the volume bound to a claim (a hostPath or
// local volume, as the local-path provisioner makes them); an error while
// the claim is not bound.
func (a *Agent) ClaimDir(namespace, claim string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pvc, err := a.client.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, claim, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("persistentvolumeclaim %q: %w", claim, err)
	}
	if pvc.Status.Phase != corev1.ClaimBound || pvc.Spec.VolumeName == "" {
		return "", fmt.Errorf("persistentvolumeclaim %q is not bound", claim)
	}
	pv, err := a.client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("persistentvolume %q: %w", pvc.Spec.VolumeName, err)
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, nil
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	}
	return "", fmt.Errorf("persistentvolume %q: only hostPath and local volumes can be mounted on this node", pv.Name)
}

// ClusterDNS is what the node knows of the cluster's DNS now: the ClusterIPs
// of kube-system/kube-dns (none before the Service is seen), the zone, and
// the node's own resolv.conf.
func (a *Agent) ClusterDNS() poddns.Cluster {
	c := poddns.Cluster{Domain: a.cfg.ClusterDomain}
	if b, err := os.ReadFile(a.cfg.ResolvConf); err == nil {
		c.Host = poddns.Parse(string(b))
	}
	if a.services == nil {
		return c
	}
	if svc, err := a.services.Services(metav1.NamespaceSystem).Get(DNSService); err == nil && svc.Spec.ClusterIP != corev1.ClusterIPNone {
		c.Servers = append(c.Servers, svc.Spec.ClusterIPs...)
		if len(c.Servers) == 0 && svc.Spec.ClusterIP != "" {
			c.Servers = []string{svc.Spec.ClusterIP}
		}
	}
	return c
}

// ServiceEnv is the environment Kubernetes gives a pod for the Services of
// its namespace (and default/kubernetes): <NAME>_SERVICE_HOST and _PORT,
// _SERVICE_PORT_<PORT NAME>, and the Docker-link style <NAME>_PORT* set.
func (a *Agent) ServiceEnv(namespace string) []corev1.EnvVar {
	if a.services == nil {
		return nil
	}
	list, _ := a.services.Services(namespace).List(labels.Everything())
	if namespace != metav1.NamespaceDefault {
		if k, err := a.services.Services(metav1.NamespaceDefault).Get("kubernetes"); err == nil {
			list = append(list, k)
		}
	}
	return ServiceEnv(list)
}

// ServiceEnv builds the variables of a list of Services (those without a
// ClusterIP give none).
func ServiceEnv(services []*corev1.Service) []corev1.EnvVar {
	var out []corev1.EnvVar
	add := func(k, v string) { out = append(out, corev1.EnvVar{Name: k, Value: v}) }
	for _, s := range services {
		ip := s.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
		add(name+"_SERVICE_HOST", ip)
		add(name+"_SERVICE_PORT", strconv.Itoa(int(s.Spec.Ports[0].Port)))
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				add(name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), strconv.Itoa(int(p.Port)))
			}
		}
		first := s.Spec.Ports[0]
		proto := strings.ToLower(string(first.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		add(name+"_PORT", fmt.Sprintf("%s://%s", proto, net.JoinHostPort(ip, strconv.Itoa(int(first.Port)))))
		for _, p := range s.Spec.Ports {
			pr := strings.ToLower(string(p.Protocol))
			if pr == "" {
				pr = "tcp"
			}
			prefix := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, strings.ToUpper(pr))
			add(prefix, fmt.Sprintf("%s://%s", pr, net.JoinHostPort(ip, strconv.Itoa(int(p.Port)))))
			add(prefix+"_PROTO", pr)
			add(prefix+"_PORT", strconv.Itoa(int(p.Port)))
			add(prefix+"_ADDR", ip)
		}
	}
	return out
}
