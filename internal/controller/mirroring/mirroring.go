// Package mirroring mirrors user-written Endpoints of Services without a
// selector into EndpointSlices, as Kubernetes' EndpointSliceMirroring
// controller does, so EndpointSlice readers (DNS, proxies) see them.
// Endpoints labelled endpointslice.kubernetes.io/skip-mirror=true (those the
// endpoints controller writes) are not mirrored.
package mirroring

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	discoveryinformers "k8s.io/client-go/informers/discovery/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

// ControllerName is the managed-by value of mirrored slices.
const ControllerName = "endpointslicemirroring-controller.k8s.io"

// SkipMirrorLabel marks Endpoints that are not mirrored.
const SkipMirrorLabel = "endpointslice.kubernetes.io/skip-mirror"

// Desired computes the mirrored slices of an Endpoints object: one slice per
// (subset, address family), named <endpoints>-<n>.
func Desired(svc *corev1.Service, ep *corev1.Endpoints) []*discoveryv1.EndpointSlice {
	var out []*discoveryv1.EndpointSlice
	t, f := true, false
	for i, ss := range ep.Subsets {
		var ports []discoveryv1.EndpointPort
		for _, p := range ss.Ports {
			p := p
			ports = append(ports, discoveryv1.EndpointPort{Name: &p.Name, Port: &p.Port, Protocol: &p.Protocol, AppProtocol: p.AppProtocol})
		}
		byFamily := map[discoveryv1.AddressType][]discoveryv1.Endpoint{}
		add := func(a corev1.EndpointAddress, ready bool) {
			ip, err := netip.ParseAddr(a.IP)
			if err != nil {
				return
			}
			fam := discoveryv1.AddressTypeIPv4
			if ip.Is6() {
				fam = discoveryv1.AddressTypeIPv6
			}
			e := discoveryv1.Endpoint{Addresses: []string{a.IP}, Conditions: discoveryv1.EndpointConditions{Ready: &f, Serving: &f, Terminating: &f}, TargetRef: a.TargetRef, NodeName: a.NodeName}
			if ready {
				e.Conditions.Ready, e.Conditions.Serving = &t, &t
			}
			if a.Hostname != "" {
				h := a.Hostname
				e.Hostname = &h
			}
			byFamily[fam] = append(byFamily[fam], e)
		}
		for _, a := range ss.Addresses {
			add(a, true)
		}
		for _, a := range ss.NotReadyAddresses {
			add(a, false)
		}
		fams := make([]string, 0, len(byFamily))
		for fam := range byFamily {
			fams = append(fams, string(fam))
		}
		sort.Strings(fams)
		for _, fam := range fams {
			s := &discoveryv1.EndpointSlice{
				ObjectMeta: metav1.ObjectMeta{
					Name: fmt.Sprintf("%s-%d-%s", ep.Name, i, map[string]string{"IPv4": "v4", "IPv6": "v6"}[fam]), Namespace: ep.Namespace,
					Labels:          map[string]string{discoveryv1.LabelServiceName: svc.Name, discoveryv1.LabelManagedBy: ControllerName},
					OwnerReferences: []metav1.OwnerReference{podutil.OwnerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))},
				},
				AddressType: discoveryv1.AddressType(fam),
				Endpoints:   byFamily[discoveryv1.AddressType(fam)],
				Ports:       ports,
			}
			s.OwnerReferences[0].Controller, s.OwnerReferences[0].BlockOwnerDeletion = &t, &t
			out = append(out, s)
		}
	}
	return out
}

// Controller mirrors Endpoints.
type Controller struct {
	client   kubernetes.Interface
	services corelisters.ServiceLister
	eps      corelisters.EndpointsLister
	slices   cache.SharedIndexInformer
	loop     *kube.Loop[string]
}

// New wires the controller.
func New(client kubernetes.Interface, svcInf coreinformers.ServiceInformer, epInf coreinformers.EndpointsInformer, sliceInf discoveryinformers.EndpointSliceInformer, log *slog.Logger) *Controller {
	c := &Controller{client: client, services: svcInf.Lister(), eps: epInf.Lister(), slices: sliceInf.Informer()}
	kube.IndexSlicesByService(c.slices)
	q := kube.NewQueue[string]("endpointslicemirroring")
	c.loop = &kube.Loop[string]{Name: "endpointslicemirroring", Queue: q, Sync: c.sync, Workers: 2, Log: log,
		Synced: []cache.InformerSynced{svcInf.Informer().HasSynced, epInf.Informer().HasSynced, sliceInf.Informer().HasSynced}}
	h := kube.EnqueueHandler(q)
	_, _ = svcInf.Informer().AddEventHandler(h)
	_, _ = epInf.Informer().AddEventHandler(h)
	_, _ = sliceInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj interface{}) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if s, ok := obj.(*discoveryv1.EndpointSlice); ok && s.Labels[discoveryv1.LabelManagedBy] == ControllerName {
				q.Add(s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName])
			}
		},
	})
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error { return c.loop.Run(ctx) }

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	existing, err := kube.ServiceSlices(c.slices, ns, name, ControllerName)
	if err != nil {
		return err
	}
	var want []*discoveryv1.EndpointSlice
	svc, err := c.services.Services(ns).Get(name)
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err == nil && svc.Spec.Selector == nil {
		ep, err := c.eps.Endpoints(ns).Get(name)
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		if err == nil && ep.Labels[SkipMirrorLabel] != "true" {
			want = Desired(svc, ep)
		}
	}
	api := c.client.DiscoveryV1().EndpointSlices(ns)
	have := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		have[s.Name] = s
	}
	for _, w := range want {
		cur, ok := have[w.Name]
		delete(have, w.Name)
		switch {
		case !ok:
			if _, err := api.Create(ctx, w, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return err
			}
		case !apiequality.Semantic.DeepEqual(cur.Endpoints, w.Endpoints) || !apiequality.Semantic.DeepEqual(cur.Ports, w.Ports):
			upd := cur.DeepCopy()
			upd.Endpoints, upd.Ports = w.Endpoints, w.Ports
			if _, err := api.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
	}
	for _, s := range have {
		if err := api.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
