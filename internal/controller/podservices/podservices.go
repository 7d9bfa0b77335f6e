// Package podservices maps pod events to the Services whose endpoints they
// may change, for the controllers that keep endpoints (EndpointSlices, v1
// Endpoints).
package podservices

import (
	corev1 "k8s.io/api/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	esutil "k8s.io/endpointslice/util"
)

// Handler enqueues namespace/name keys of the Services a pod event touches.
func Handler(services corelisters.ServiceLister, add func(string)) cache.ResourceEventHandlerFuncs {
	enqueue := func(key *esutil.PodProjectionKey) {
		if key == nil {
			return
		}
		// The keys come as namespace/name.
		if keys, err := esutil.GetServicesToUpdate(services, key); err == nil {
			for k := range keys {
				add(k)
			}
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
