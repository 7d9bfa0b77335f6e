package kube

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/svcnet/svcnet/internal/intern"
)

// NodePodsIndex names the pod index by spec.nodeName.
const NodePodsIndex = "node"

// IndexPodsByNode indexes a pod informer by the node each pod is bound to,
// so the node controllers find a node's pods without scanning them all.
// Adding it twice is harmless.
func IndexPodsByNode(inf cache.SharedIndexInformer) {
	_ = inf.AddIndexers(cache.Indexers{NodePodsIndex: func(obj interface{}) ([]string, error) {
		p, ok := obj.(*corev1.Pod)
		if !ok || p.Spec.NodeName == "" {
			return nil, nil
		}
		return []string{p.Spec.NodeName}, nil
	}})
}

// PodsOnNode returns the pods bound to node, from an informer indexed by
// IndexPodsByNode.
func PodsOnNode(inf cache.SharedIndexInformer, node string) []*corev1.Pod {
	objs, _ := inf.GetIndexer().ByIndex(NodePodsIndex, node)
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			out = append(out, p)
		}
	}
	return out
}

// TrimForControllers is the controller manager's informer transform: it
// drops managedFields from every object (StripManagedFields) and keeps of
// each pod only what the controllers and the scheduler read: its identity,
// labels, owners and finalizers; where it may run and what it asks for
// (node, selectors, affinity, tolerations, containers' names, ports,
// resources and restart policies, claims); where it runs and how it is
// doing (phase, conditions, IPs, start time, containers' readiness,
// restarts and terminations). Strings are interned and equal label sets
// shared (package intern): a trimmed pod costs about half the decoded one
// (3.2 kB against 5.7 without managedFields). Nothing may write a pod back
// from these objects with Update: the controllers patch what they change.
func TrimForControllers(obj interface{}) (interface{}, error) {
	if p, ok := obj.(*corev1.Pod); ok {
		return trimPod(p), nil // a new object, without managedFields
	}
	return StripManagedFields(obj)
}

// podLabels shares the label sets of the controllers' pods.
var podLabels = intern.NewLabels()

func trimPod(p *corev1.Pod) *corev1.Pod {
	s, st := &p.Spec, &p.Status
	t := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: intern.String(p.Namespace), UID: p.UID, ResourceVersion: p.ResourceVersion,
			Generation: p.Generation, CreationTimestamp: p.CreationTimestamp, DeletionTimestamp: p.DeletionTimestamp,
			DeletionGracePeriodSeconds: p.DeletionGracePeriodSeconds, Labels: podLabels.Share(p.Labels),
			Annotations: p.Annotations, OwnerReferences: internOwners(p.OwnerReferences), Finalizers: intern.Strings(p.Finalizers),
		},
		Spec: corev1.PodSpec{
			NodeName: intern.String(s.NodeName), NodeSelector: s.NodeSelector, Affinity: s.Affinity, Tolerations: s.Tolerations,
			SchedulerName: intern.String(s.SchedulerName), Hostname: s.Hostname, Subdomain: intern.String(s.Subdomain),
			HostNetwork: s.HostNetwork, Priority: s.Priority, RestartPolicy: corev1.RestartPolicy(intern.String(string(s.RestartPolicy))),
			TerminationGracePeriodSeconds: s.TerminationGracePeriodSeconds,
			InitContainers:                trimContainers(s.InitContainers), Containers: trimContainers(s.Containers),
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodPhase(intern.String(string(st.Phase))), Reason: intern.String(st.Reason),
			NominatedNodeName: intern.String(st.NominatedNodeName), PodIP: st.PodIP, StartTime: st.StartTime,
			InitContainerStatuses: trimStatuses(st.InitContainerStatuses), ContainerStatuses: trimStatuses(st.ContainerStatuses),
		},
	}
	shareTemplate(p, t)
	for _, v := range s.Volumes {
		if v.PersistentVolumeClaim != nil {
			t.Spec.Volumes = append(t.Spec.Volumes, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: v.PersistentVolumeClaim}})
		}
	}
	if len(st.PodIPs) > 0 {
		t.Status.PodIPs = make([]corev1.PodIP, len(st.PodIPs))
		for i, ip := range st.PodIPs {
			if ip.IP == st.PodIP {
				ip.IP = t.Status.PodIP // one string for both
			}
			t.Status.PodIPs[i] = ip
		}
	}
	if len(st.Conditions) > 0 {
		t.Status.Conditions = make([]corev1.PodCondition, len(st.Conditions))
		for i, c := range st.Conditions {
			t.Status.Conditions[i] = corev1.PodCondition{Type: corev1.PodConditionType(intern.String(string(c.Type))),
				Status: corev1.ConditionStatus(intern.String(string(c.Status))), LastTransitionTime: c.LastTransitionTime,
				Reason: intern.String(c.Reason), Message: c.Message, ObservedGeneration: c.ObservedGeneration}
		}
	}
	return t
}

// templateParts is what trimPod keeps of a pod's template: equal in every
// pod a ReplicaSet, StatefulSet or DaemonSet makes from one template
// (until one is resized in place, which the equality check catches).
type templateParts struct {
	key                        string
	containers, initContainers []corev1.Container
	tolerations                []corev1.Toleration
}

// templateSlots is the size of the table of templates: a direct-mapped
// table, as intern.Labels, where the pods of one template written close
// together find each other.
const templateSlots = 1 << 14

var templates struct {
	seed  maphash.Seed
	mu    sync.Mutex
	slots [templateSlots]*templateParts
}

func init() { templates.seed = maphash.MakeSeed() }

// shareTemplate gives t (trimmed from p) the containers and tolerations of
// an earlier pod of the same template when they are equal: one copy per
// template instead of one per pod.
func shareTemplate(p, t *corev1.Pod) {
	hash := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	if hash == "" {
		hash = p.Labels[appsv1.ControllerRevisionHashLabelKey]
	}
	owner := metav1.GetControllerOfNoCopy(p)
	if hash == "" || owner == nil {
		return
	}
	key := string(owner.UID) + "/" + hash
	i := maphash.String(templates.seed, key) % templateSlots
	templates.mu.Lock()
	cur := templates.slots[i]
	templates.mu.Unlock()
	ts := &t.Spec
	if cur != nil && cur.key == key && apiequality.Semantic.DeepEqual(cur.containers, ts.Containers) &&
		apiequality.Semantic.DeepEqual(cur.initContainers, ts.InitContainers) && apiequality.Semantic.DeepEqual(cur.tolerations, ts.Tolerations) {
		ts.Containers, ts.InitContainers, ts.Tolerations = cur.containers, cur.initContainers, cur.tolerations
		return
	}
	templates.mu.Lock()
	templates.slots[i] = &templateParts{key: key, containers: ts.Containers, initContainers: ts.InitContainers, tolerations: ts.Tolerations}
	templates.mu.Unlock()
}

// trimContainers keeps each container's name, ports, resources and
// restart policy.
func trimContainers(cs []corev1.Container) []corev1.Container {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		out[i] = corev1.Container{Name: intern.String(c.Name), Ports: c.Ports, Resources: c.Resources, RestartPolicy: c.RestartPolicy}
	}
	return out
}

// trimStatuses keeps each container's name, readiness, restarts, and how
// it waits or ended.
func trimStatuses(cs []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(cs) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(cs))
	for i, c := range cs {
		out[i] = corev1.ContainerStatus{Name: intern.String(c.Name), Ready: c.Ready, RestartCount: c.RestartCount, Started: c.Started,
			State: corev1.ContainerState{Waiting: c.State.Waiting, Terminated: c.State.Terminated}}
	}
	return out
}

// internOwners interns the strings of owner references, which the pods of
// one owner repeat.
func internOwners(refs []metav1.OwnerReference) []metav1.OwnerReference {
	for i := range refs {
		r := &refs[i]
		r.APIVersion, r.Kind, r.Name = intern.String(r.APIVersion), intern.String(r.Kind), intern.String(r.Name)
		r.UID = types.UID(intern.String(string(r.UID)))
	}
	return refs
}

// TrimForCollector is the garbage collector's metadata informer
// transform: of each object it keeps what ownership needs (identity,
// resourceVersion, owners, finalizers, deletion), strings interned.
func TrimForCollector(obj interface{}) (interface{}, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return StripManagedFields(obj)
	}
	return &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: intern.String(m.APIVersion), Kind: intern.String(m.Kind)},
		ObjectMeta: metav1.ObjectMeta{Name: m.Name, Namespace: intern.String(m.Namespace), UID: m.UID, ResourceVersion: m.ResourceVersion,
			DeletionTimestamp: m.DeletionTimestamp, OwnerReferences: internOwners(m.OwnerReferences), Finalizers: intern.Strings(m.Finalizers)},
	}, nil
}

// PatchPodCondition sets one condition of pod's status with a strategic
// merge patch (conditions merge by type); with resourceVersion set, only
// if the pod is still at it (otherwise a conflict). The controllers' pods
// are trimmed, so they change a pod's status by patch, never by writing
// the whole status back.
func PatchPodCondition(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, cond corev1.PodCondition, resourceVersion string) error {
	p := map[string]any{"status": map[string]any{"conditions": []corev1.PodCondition{cond}}}
	if resourceVersion != "" {
		p["metadata"] = map[string]any{"resourceVersion": resourceVersion}
	}
	patch, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}
