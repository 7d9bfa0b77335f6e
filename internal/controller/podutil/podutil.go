// Package podutil answers questions about pods that several controllers ask:
// is it active, ready, available; which pods to remove first; how to make a
// pod from a template.
package podutil

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// IsActive: not terminal and not being deleted.
func IsActive(p *corev1.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

// ReadyCondition returns the pod's Ready condition, or nil.
func ReadyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// IsReady reports a True Ready condition.
func IsReady(p *corev1.Pod) bool {
	c := ReadyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

// IsAvailable: ready for at least minReadySeconds.
func IsAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	c := ReadyCondition(p)
	if c == nil || c.Status != corev1.ConditionTrue {
		return false
	}
	return minReadySeconds == 0 || !c.LastTransitionTime.IsZero() && c.LastTransitionTime.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// ControllerOf returns the controlling owner reference, or nil.
func ControllerOf(obj metav1.Object) *metav1.OwnerReference {
	for _, r := range obj.GetOwnerReferences() {
		if r.Controller != nil && *r.Controller {
			ref := r
			return &ref
		}
	}
	return nil
}

// OwnerRef makes a controlling owner reference.
func OwnerRef(owner metav1.Object, gvk schema.GroupVersionKind) metav1.OwnerReference {
	t := true
	return metav1.OwnerReference{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind, Name: owner.GetName(), UID: owner.GetUID(), Controller: &t, BlockOwnerDeletion: &t}
}

// FromTemplate makes a pod of a template, owned by owner.
func FromTemplate(t *corev1.PodTemplateSpec, namespace string, owner metav1.OwnerReference) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:       namespace,
			Labels:          copyMap(t.Labels),
			Annotations:     copyMap(t.Annotations),
			Finalizers:      append([]string(nil), t.Finalizers...),
			OwnerReferences: []metav1.OwnerReference{owner},
		},
		Spec: *t.Spec.DeepCopy(),
	}
	return p
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// SortForDeletion orders pods so the ones to remove first come first, as
// Kubernetes ranks them: unscheduled, pending, not ready, ready more recently,
// restarted more, created more recently.
func SortForDeletion(pods []*corev1.Pod) {
	phaseRank := func(p corev1.PodPhase) int {
		switch p {
		case corev1.PodPending:
			return 0
		case corev1.PodUnknown:
			return 1
		case corev1.PodRunning:
			return 2
		}
		return 3
	}
	restarts := func(p *corev1.Pod) int32 {
		var n int32
		for _, c := range p.Status.ContainerStatuses {
			n += c.RestartCount
		}
		return n
	}
	sort.SliceStable(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
			return a.Spec.NodeName == ""
		}
		if phaseRank(a.Status.Phase) != phaseRank(b.Status.Phase) {
			return phaseRank(a.Status.Phase) < phaseRank(b.Status.Phase)
		}
		if IsReady(a) != IsReady(b) {
			return !IsReady(a)
		}
		if IsReady(a) && IsReady(b) {
			ta, tb := ReadyCondition(a).LastTransitionTime, ReadyCondition(b).LastTransitionTime
			if !ta.Equal(&tb) {
				return tb.Before(&ta)
			}
		}
		if restarts(a) != restarts(b) {
			return restarts(a) > restarts(b)
		}
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return b.CreationTimestamp.Before(&a.CreationTimestamp)
		}
		return a.Name > b.Name
	})
}

// ControllerUIDIndex names the pod index by controlling owner UID.
const ControllerUIDIndex = "controllerUID"

// IndexByController indexes an informer's objects by their controller's UID,
// so a controller finds its pods without scanning the namespace. Adding it
// twice is harmless.
func IndexByController(inf cache.SharedIndexInformer) {
	_ = inf.AddIndexers(cache.Indexers{ControllerUIDIndex: func(obj interface{}) ([]string, error) {
		m, ok := obj.(metav1.Object)
		if !ok {
			return nil, nil
		}
		if ref := ControllerOf(m); ref != nil {
			return []string{string(ref.UID)}, nil
		}
		return nil, nil
	}})
}

// Owned returns the pods an informer indexed under owner UID.
func Owned(inf cache.SharedIndexInformer, uid types.UID) []*corev1.Pod {
	return OwnedBy[*corev1.Pod](inf, uid)
}

// OwnedBy returns the objects of type T an informer indexed (with
// IndexByController) under their controller's UID: a controller's sync
// costs what it owns, not everything in its namespace.
func OwnedBy[T any](inf cache.SharedIndexInformer, uid types.UID) []T {
	objs, err := inf.GetIndexer().ByIndex(ControllerUIDIndex, string(uid))
	if err != nil {
		return nil
	}
	out := make([]T, 0, len(objs))
	for _, o := range objs {
		if t, ok := o.(T); ok {
			out = append(out, t)
		}
	}
	return out
}
