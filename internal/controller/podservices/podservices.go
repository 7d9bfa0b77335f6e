// Package podservices connects pods and the Services that select them, for
// the controllers that keep endpoints (EndpointSlices, v1 Endpoints): which
// Services a pod event touches, and which pods a Service selects. Both go
// through informer indexes by label (pods by "namespace/key=value" of each
// label, Services by each pair of their selector), not through a scan of the
// namespace: with 10,000 pods and 1,000 Services in one namespace, the scans
// were half of the server's CPU while the pods came up.
package podservices

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/tools/cache"
	esutil "k8s.io/endpointslice/util"
)

const (
	podLabelIndex        = "podservices.label"
	serviceSelectorIndex = "podservices.selector"
)

func pair(ns, k, v string) string { return ns + "/" + k + "=" + v }

// matchAll is the index value of Services whose selector is empty (it
// selects every pod of the namespace).
func matchAll(ns string) string { return ns + "/" }

// Index adds the label indexes to the pod and Service informers. Adding
// them twice is harmless.
func Index(pods, services cache.SharedIndexInformer) {
	_ = pods.AddIndexers(cache.Indexers{podLabelIndex: func(obj interface{}) ([]string, error) {
		p, ok := obj.(*corev1.Pod)
		if !ok {
			return nil, nil
		}
		out := make([]string, 0, len(p.Labels))
		for k, v := range p.Labels {
			out = append(out, pair(p.Namespace, k, v))
		}
		return out, nil
	}})
	_ = services.AddIndexers(cache.Indexers{serviceSelectorIndex: func(obj interface{}) ([]string, error) {
		s, ok := obj.(*corev1.Service)
		if !ok || s.Spec.Selector == nil { // nil selects nothing
			return nil, nil
		}
		if len(s.Spec.Selector) == 0 {
			return []string{matchAll(s.Namespace)}, nil
		}
		out := make([]string, 0, len(s.Spec.Selector))
		for k, v := range s.Spec.Selector {
			out = append(out, pair(s.Namespace, k, v))
		}
		return out, nil
	}})
}

// SelectedPods returns the pods of ns that a Service selector selects (an
// empty one selects all), from an informer indexed by Index.
func SelectedPods(pods cache.SharedIndexInformer, ns string, selector map[string]string) ([]*corev1.Pod, error) {
	idx := pods.GetIndexer()
	var candidates []interface{}
	if len(selector) == 0 {
		var err error
		if candidates, err = idx.ByIndex(cache.NamespaceIndex, ns); err != nil {
			return nil, err
		}
	} else {
		// The smallest bucket of the selector's pairs holds every match.
		first := true
		for k, v := range selector {
			b, err := idx.ByIndex(podLabelIndex, pair(ns, k, v))
			if err != nil {
				return nil, err
			}
			if first || len(b) < len(candidates) {
				candidates, first = b, false
			}
			if len(candidates) == 0 {
				break
			}
		}
	}
	sel := labels.SelectorFromValidatedSet(selector)
	out := make([]*corev1.Pod, 0, len(candidates))
	for _, o := range candidates {
		if p, ok := o.(*corev1.Pod); ok && sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	return out, nil
}

// ServicesFor returns the namespace/name keys of the Services of ns whose
// selector matches a pod's labels, from an informer indexed by Index.
func ServicesFor(services cache.SharedIndexInformer, ns string, podLabels map[string]string) sets.Set[string] {
	idx := services.GetIndexer()
	out := sets.Set[string]{}
	check := func(objs []interface{}) {
		for _, o := range objs {
			s, ok := o.(*corev1.Service)
			if !ok || s.Spec.Selector == nil || out.Has(s.Namespace+"/"+s.Name) {
				continue
			}
			if labels.SelectorFromValidatedSet(s.Spec.Selector).Matches(labels.Set(podLabels)) {
				out.Insert(s.Namespace + "/" + s.Name)
			}
		}
	}
	if objs, err := idx.ByIndex(serviceSelectorIndex, matchAll(ns)); err == nil {
		check(objs)
	}
	for k, v := range podLabels {
		if objs, err := idx.ByIndex(serviceSelectorIndex, pair(ns, k, v)); err == nil {
			check(objs)
		}
	}
	return out
}

// Handler enqueues namespace/name keys of the Services a pod event touches:
// those selecting it now and, when its labels changed, those that did (all
// of both when the pod changed otherwise too; else only the Services that
// gained or lost it), as Kubernetes' endpoint controllers decide.
func Handler(services cache.SharedIndexInformer, add func(string)) cache.ResourceEventHandlerFuncs {
	enqueue := func(key *esutil.PodProjectionKey) {
		if key == nil {
			return
		}
		keys := ServicesFor(services, key.Namespace, key.Labels)
		if key.OldLabels != nil {
			old := ServicesFor(services, key.Namespace, key.OldLabels)
			if key.PodChanged {
				keys = keys.Union(old)
			} else {
				keys = keys.Difference(old).Union(old.Difference(keys))
			}
		}
		for k := range keys {
			add(k)
		}
	}
	podKey := func(obj interface{}) *esutil.PodProjectionKey {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if p, ok := obj.(*corev1.Pod); ok {
			return &esutil.PodProjectionKey{Namespace: p.Namespace, Labels: p.Labels, PodChanged: true}
		}
		return nil
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { enqueue(podKey(obj)) },
		UpdateFunc: func(old, obj interface{}) { enqueue(esutil.GetPodUpdateProjectionKey(old, obj)) },
		DeleteFunc: func(obj interface{}) { enqueue(podKey(obj)) },
	}
}
