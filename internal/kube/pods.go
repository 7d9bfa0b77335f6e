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

// TrimForControllers is the controller manager's informer transform: it
// drops managedFields from every object (StripManagedFields) and, from
// pods, the parts of the spec that no controller reads (the volume
// sources but persistent volume claims, and the containers' commands,
// environment, mounts, probes and security settings), as kube-controller-
// manager's pod informer trims managedFields. Names, ports, resources,
// scheduling fields and the whole status stay: the endpoint controllers
// resolve named ports, and the node controllers write status back from
// these objects (a status update keeps the stored spec).
func TrimForControllers(obj interface{}) (interface{}, error) {
	obj, _ = StripManagedFields(obj)
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	vols := p.Spec.Volumes[:0]
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			vols = append(vols, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: v.PersistentVolumeClaim}})
		}
	}
	if len(vols) == 0 {
		vols = nil
	}
	p.Spec.Volumes = vols
	trimContainers(p.Spec.InitContainers)
	trimContainers(p.Spec.Containers)
	p.Spec.EphemeralContainers = nil
	p.Spec.SecurityContext = nil
	return p, nil
}

// trimContainers keeps each container's name, image, ports, resources and
// restart policy.
func trimContainers(cs []corev1.Container) {
	for i, c := range cs {
		cs[i] = corev1.Container{Name: c.Name, Image: c.Image, Ports: c.Ports, Resources: c.Resources, RestartPolicy: c.RestartPolicy}
	}
}
