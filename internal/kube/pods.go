package kube

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/cache"
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
