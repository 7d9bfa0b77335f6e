// Package gc is the garbage collector: it deletes objects whose owners are
// gone, deletes the dependents of owners deleted in the foreground before
// releasing them, and orphans the dependents of owners deleted with
// propagationPolicy Orphan. It reads every resource through metadata-only
// informers, as Kubernetes' collector does.
package gc

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/svcnet/svcnet/internal/kube"
)

// Resource is one resource the collector watches.
type Resource struct {
	GVR  schema.GroupVersionResource
	Kind string
}

// Collector is the garbage collector.
type Collector struct {
	client    metadata.Interface
	resources []Resource
	informers map[schema.GroupVersionResource]cache.SharedIndexInformer
	byKind    map[schema.GroupKind]schema.GroupVersionResource
	mu        sync.Mutex
	// dependents: owner UID -> dependent item keys.
	dependents map[types.UID]map[item]bool
	loop       *kube.Loop[item]
}

// New wires the collector over the resources.
func New(client metadata.Interface, factory metadatainformer.SharedInformerFactory, resources []Resource, log *slog.Logger) *Collector {
	c := &Collector{client: client, resources: resources, informers: map[schema.GroupVersionResource]cache.SharedIndexInformer{},
		byKind: map[schema.GroupKind]schema.GroupVersionResource{}, dependents: map[types.UID]map[item]bool{}}
	q := kube.NewQueue[item]("garbagecollector")
	var synced []cache.InformerSynced
	for _, r := range resources {
		r := r
		inf := factory.ForResource(r.GVR).Informer()
		c.informers[r.GVR] = inf
		c.byKind[schema.GroupKind{Group: r.GVR.Group, Kind: r.Kind}] = r.GVR
		synced = append(synced, inf.HasSynced)
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj interface{}) { c.observe(q, r.GVR, nil, obj) },
			UpdateFunc: func(old, obj interface{}) { c.observe(q, r.GVR, old, obj) },
			DeleteFunc: func(obj interface{}) { c.gone(q, r.GVR, obj) },
		})
	}
	c.loop = &kube.Loop[item]{Name: "garbagecollector", Queue: q, Sync: c.sync, Workers: 4, Log: log, Synced: synced}
	return c
}

// Run works until ctx ends.
func (c *Collector) Run(ctx context.Context) error { return c.loop.Run(ctx) }

// item is the collector's work-queue key: one object of one resource.
type item struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string
}

func itemKey(gvr schema.GroupVersionResource, ns, name string) item {
	return item{gvr: gvr, namespace: ns, name: name}
}

func meta(obj interface{}) *metav1.PartialObjectMetadata {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, _ := obj.(*metav1.PartialObjectMetadata)
	return m
}

func (c *Collector) observe(q interface{ Add(item) }, gvr schema.GroupVersionResource, old, obj interface{}) {
	m := meta(obj)
	if m == nil {
		return
	}
	key := itemKey(gvr, m.Namespace, m.Name)
	c.mu.Lock()
	var released []metav1.OwnerReference
	if o := meta(old); o != nil {
		for _, ref := range o.OwnerReferences {
			delete(c.dependents[ref.UID], key)
			still := false
			for _, r := range m.OwnerReferences {
				still = still || r.UID == ref.UID
			}
			if !still {
				released = append(released, ref)
			}
		}
	}
	for _, ref := range m.OwnerReferences {
		if c.dependents[ref.UID] == nil {
			c.dependents[ref.UID] = map[item]bool{}
		}
		c.dependents[ref.UID][key] = true
	}
	deps := len(c.dependents[m.UID])
	c.mu.Unlock()
	// An owner orphaning its dependents may now be free.
	for _, ref := range released {
		if gvr, ok := c.byKind[groupKind(ref)]; ok {
			q.Add(itemKey(gvr, m.Namespace, ref.Name))
		}
	}
	if len(m.OwnerReferences) > 0 {
		q.Add(key)
	}
	if m.DeletionTimestamp != nil && hasGCFinalizer(m) {
		q.Add(key)
		if deps > 0 {
			c.enqueueDependents(q, m.UID)
		}
	}
}

func (c *Collector) gone(q interface{ Add(item) }, gvr schema.GroupVersionResource, obj interface{}) {
	m := meta(obj)
	if m == nil {
		return
	}
	key := itemKey(gvr, m.Namespace, m.Name)
	c.mu.Lock()
	for _, ref := range m.OwnerReferences {
		delete(c.dependents[ref.UID], key)
	}
	c.mu.Unlock()
	c.enqueueDependents(q, m.UID)
	// An owner waiting in the foreground may now be free.
	for _, ref := range m.OwnerReferences {
		if gvr, ok := c.byKind[groupKind(ref)]; ok {
			q.Add(itemKey(gvr, m.Namespace, ref.Name))
		}
	}
}

func (c *Collector) enqueueDependents(q interface{ Add(item) }, uid types.UID) {
	c.mu.Lock()
	var keys []item
	for k := range c.dependents[uid] {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	for _, k := range keys {
		q.Add(k)
	}
}

func groupKind(ref metav1.OwnerReference) schema.GroupKind {
	gv, _ := schema.ParseGroupVersion(ref.APIVersion)
	return schema.GroupKind{Group: gv.Group, Kind: ref.Kind}
}

func hasGCFinalizer(m *metav1.PartialObjectMetadata) bool {
	for _, f := range m.Finalizers {
		if f == metav1.FinalizerDeleteDependents || f == metav1.FinalizerOrphanDependents {
			return true
		}
	}
	return false
}

// ownerState is what the collector knows of one owner reference.
type ownerState int

const (
	ownerLive ownerState = iota
	ownerGone
	ownerForeground
	ownerOrphaning
	ownerUnknownKind
)

func (c *Collector) ownerOf(ns string, ref metav1.OwnerReference) ownerState {
	gvr, ok := c.byKind[groupKind(ref)]
	if !ok {
		return ownerUnknownKind
	}
	key := ref.Name
	if ns != "" && !clusterScoped(gvr) {
		key = ns + "/" + ref.Name
	}
	obj, exists, err := c.informers[gvr].GetStore().GetByKey(key)
	if err != nil || !exists {
		return ownerGone
	}
	m := meta(obj)
	if m == nil || m.UID != ref.UID {
		return ownerGone
	}
	if m.DeletionTimestamp != nil {
		for _, f := range m.Finalizers {
			switch f {
			case metav1.FinalizerDeleteDependents:
				return ownerForeground
			case metav1.FinalizerOrphanDependents:
				return ownerOrphaning
			}
		}
	}
	return ownerLive
}

func clusterScoped(gvr schema.GroupVersionResource) bool {
	return gvr.Group == "" && (gvr.Resource == "namespaces" || gvr.Resource == "nodes")
}

// Decide is the collector's rule for one dependent given the state of its
// owners: delete it (and how), orphan it from some owners, or leave it.
func Decide(states []ownerState) (del bool, policy metav1.DeletionPropagation, orphanFrom []int) {
	live, foreground, unknown := 0, 0, 0
	for i, s := range states {
		switch s {
		case ownerLive:
			live++
		case ownerForeground:
			foreground++
		case ownerOrphaning:
			orphanFrom = append(orphanFrom, i)
		case ownerUnknownKind:
			unknown++
		}
	}
	if len(orphanFrom) > 0 {
		return false, "", orphanFrom
	}
	if live > 0 || unknown > 0 || len(states) == 0 {
		return false, "", nil
	}
	if foreground > 0 {
		return true, metav1.DeletePropagationForeground, nil
	}
	return true, metav1.DeletePropagationBackground, nil
}

func (c *Collector) sync(ctx context.Context, key item) error {
	gvr, ns, name := key.gvr, key.namespace, key.name
	inf, ok := c.informers[gvr]
	if !ok {
		return nil
	}
	storeKey := name
	if ns != "" {
		storeKey = ns + "/" + name
	}
	obj, exists, err := inf.GetStore().GetByKey(storeKey)
	if err != nil || !exists {
		return err
	}
	m := meta(obj)
	api := c.client.Resource(gvr).Namespace(ns)
	// As an owner: release the GC finalizers once dependents allow it.
	if m.DeletionTimestamp != nil && hasGCFinalizer(m) {
		c.mu.Lock()
		remaining := len(c.dependents[m.UID])
		c.mu.Unlock()
		if remaining == 0 {
			var keep []string
			for _, f := range m.Finalizers {
				if f != metav1.FinalizerDeleteDependents && f != metav1.FinalizerOrphanDependents {
					keep = append(keep, f)
				}
			}
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"finalizers": keep, "resourceVersion": m.ResourceVersion}})
			if _, err := api.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
		}
	}
	// As a dependent.
	if len(m.OwnerReferences) == 0 {
		return nil
	}
	states := make([]ownerState, len(m.OwnerReferences))
	for i, ref := range m.OwnerReferences {
		states[i] = c.ownerOf(ns, ref)
	}
	del, policy, orphanFrom := Decide(states)
	switch {
	case len(orphanFrom) > 0:
		drop := map[int]bool{}
		for _, i := range orphanFrom {
			drop[i] = true
		}
		var keep []metav1.OwnerReference
		for i, ref := range m.OwnerReferences {
			if !drop[i] {
				keep = append(keep, ref)
			}
		}
		patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"ownerReferences": keep, "uid": m.UID}})
		if _, err := api.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	case del && m.DeletionTimestamp == nil:
		uid := m.UID
		err := api.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &policy, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
	}
	return nil
}
