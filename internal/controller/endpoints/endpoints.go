// Package endpoints keeps v1 Endpoints in step with Services that have a
// selector, for older clients (kubectl 1.30 and earlier describe from them).
// At most 1,000 addresses are kept, as in Kubernetes.
package endpoints

import (
	"context"
	"log/slog"
	"sort"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	endpointslicerec "k8s.io/endpointslice"
	esutil "k8s.io/endpointslice/util"

	"github.com/svcnet/svcnet/internal/controller/podservices"
	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

// MaxAddresses caps an Endpoints object.
const MaxAddresses = 1000

// Desired computes the Endpoints of a Service from its pods.
func Desired(svc *corev1.Service, pods []*corev1.Pod) *corev1.Endpoints {
	ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: map[string]string{}}}
	for k, v := range svc.Labels {
		ep.Labels[k] = v
	}
	ep.Labels[corev1.IsHeadlessService] = ""
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		delete(ep.Labels, corev1.IsHeadlessService)
	}
	ep.Labels["endpointslice.kubernetes.io/skip-mirror"] = "true"
	type subsetKey string
	subsets := map[subsetKey]*corev1.EndpointSubset{}
	var order []subsetKey
	total := 0
	sorted := append([]*corev1.Pod(nil), pods...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, p := range sorted {
		if p.Status.PodIP == "" || !podutil.IsActive(p) && !(p.DeletionTimestamp != nil && svc.Spec.PublishNotReadyAddresses) {
			continue
		}
		if total >= MaxAddresses {
			if ep.Annotations == nil {
				ep.Annotations = map[string]string{}
			}
			ep.Annotations[corev1.EndpointsOverCapacity] = "truncated"
			break
		}
		addr := corev1.EndpointAddress{IP: p.Status.PodIP, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: p.UID}}
		if p.Spec.NodeName != "" {
			n := p.Spec.NodeName
			addr.NodeName = &n
		}
		if esutil.ShouldSetHostname(p, svc) {
			addr.Hostname = p.Spec.Hostname
		}
		var ports []corev1.EndpointPort
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, err := endpointslicerec.FindPort(p, sp)
			if err != nil {
				continue
			}
			ports = append(ports, corev1.EndpointPort{Name: sp.Name, Port: int32(port), Protocol: sp.Protocol, AppProtocol: sp.AppProtocol})
		}
		key := subsetKey(portsKey(ports))
		ss, ok := subsets[key]
		if !ok {
			ss = &corev1.EndpointSubset{Ports: ports}
			subsets[key] = ss
			order = append(order, key)
		}
		if podutil.IsReady(p) || svc.Spec.PublishNotReadyAddresses {
			ss.Addresses = append(ss.Addresses, addr)
		} else {
			ss.NotReadyAddresses = append(ss.NotReadyAddresses, addr)
		}
		total++
	}
	sort.Slice(order, func(i, j int) bool { return order[i] < order[j] })
	for _, k := range order {
		ep.Subsets = append(ep.Subsets, *subsets[k])
	}
	return ep
}

func portsKey(ports []corev1.EndpointPort) string {
	s := ""
	for _, p := range ports {
		s += p.Name + "/" + string(p.Protocol) + "/" + string(rune(p.Port)) + ";"
	}
	return s
}

// Controller writes Endpoints.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	pods     cache.SharedIndexInformer
	eps      corelisters.EndpointsLister
	loop     *kube.Loop[string]
}

// New wires the controller.
func New(client kubernetes.Interface, svcInf coreinformers.ServiceInformer, podInf coreinformers.PodInformer, epInf coreinformers.EndpointsInformer, log *slog.Logger) *Controller {
	c := &Controller{client: client, services: svcInf.Lister(), pods: podInf.Informer(), eps: epInf.Lister()}
	q := kube.NewQueue[string]("endpoints")
	c.loop = &kube.Loop[string]{Name: "endpoints", Queue: q, Sync: c.sync, Workers: 2, Log: log,
		Synced: []cache.InformerSynced{svcInf.Informer().HasSynced, podInf.Informer().HasSynced, epInf.Informer().HasSynced}}
	_, _ = svcInf.Informer().AddEventHandler(kube.EnqueueHandler(q))
	podservices.Index(podInf.Informer(), svcInf.Informer())
	_, _ = podInf.Informer().AddEventHandler(podservices.Handler(svcInf.Informer(), q.Add))
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.loop.Run(ctx) }

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	api := c.client.CoreV1().Endpoints(ns)
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		cur, err := c.eps.Endpoints(ns).Get(name)
		if err == nil && cur.Labels["endpointslice.kubernetes.io/skip-mirror"] == "true" {
			if err := api.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cur.UID}}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
		return nil
	}
	if err != nil || svc.Spec.Selector == nil || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return err
	}
	pods, err := podservices.SelectedPods(c.pods, ns, svc.Spec.Selector)
	if err != nil {
		return err
	}
	want := Desired(svc, pods)
	cur, err := c.eps.Endpoints(ns).Get(name)
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	if apiequality.Semantic.DeepEqual(cur.Subsets, want.Subsets) && apiequality.Semantic.DeepEqual(cur.Labels, want.Labels) &&
		cur.Annotations[corev1.EndpointsOverCapacity] == want.Annotations[corev1.EndpointsOverCapacity] {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Subsets, upd.Labels = want.Subsets, want.Labels
	if want.Annotations != nil {
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		upd.Annotations[corev1.EndpointsOverCapacity] = want.Annotations[corev1.EndpointsOverCapacity]
	} else if upd.Annotations != nil {
		delete(upd.Annotations, corev1.EndpointsOverCapacity)
	}
	_, err = api.Update(ctx, upd, metav1.UpdateOptions{})
	return err
}
