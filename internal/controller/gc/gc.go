// Package gc is the garbage collector: it deletes objects whose owners are
// gone, deletes the dependents of owners deleted in the foreground before
// releasing them, and orphans the dependents of owners deleted with
// propagationPolicy Orphan. It reads each resource through the informer
// the other controllers already hold for it (typed, trimmed) or else a
// metadata-only one, as Kubernetes' collector does.
package gc

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/svcnet/svcnet/internal/kube"
)

// Resource is one resource the collector watches.
type Resource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	Namespaced bool
}

// Collector is the garbage collector.
type Collector struct {
	client metadata.Interface
	// Discover, when set, lists the resources served now (custom ones
	// come and go); Run follows those it was not built with, every
	// DiscoverEvery.
	Discover      func() []Resource
	DiscoverEvery time.Duration

	// rmu guards the followed resources.
	rmu        sync.RWMutex
	informers  map[schema.GroupVersionResource]cache.SharedIndexInformer
	byKind     map[schema.GroupKind]schema.GroupVersionResource
	namespaced map[schema.GroupVersionResource]bool
	dynamic    map[schema.GroupVersionResource]context.CancelFunc
	queue      interface{ Add(item) }

	mu sync.Mutex
	// dependents: owner UID -> dependent item keys.
	dependents map[types.UID]map[item]bool
	loop       *kube.Loop[item]
}

// InformerFor hands the collector an informer for a resource: any
// informer whose objects carry their ObjectMeta (typed objects or
// PartialObjectMetadata) will do.
type InformerFor func(schema.GroupVersionResource) cache.SharedIndexInformer

// New wires the collector over the resources.
func New(client metadata.Interface, informerFor InformerFor, resources []Resource, log *slog.Logger) *Collector {
	c := &Collector{client: client, informers: map[schema.GroupVersionResource]cache.SharedIndexInformer{},
		byKind: map[schema.GroupKind]schema.GroupVersionResource{}, namespaced: map[schema.GroupVersionResource]bool{},
		dynamic: map[schema.GroupVersionResource]context.CancelFunc{}, dependents: map[types.UID]map[item]bool{}, DiscoverEvery: 5 * time.Second}
	q := kube.NewQueue[item]("garbagecollector")
	c.queue = q
	var synced []cache.InformerSynced
	for _, r := range resources {
		inf := informerFor(r.GVR)
		c.follow(r, inf)
		synced = append(synced, inf.HasSynced)
	}
	c.loop = &kube.Loop[item]{Name: "garbagecollector", Queue: q, Sync: c.sync, Workers: 4, Log: log, Synced: synced}
	return c
}

// follow files a resource's informer and handles its events.
func (c *Collector) follow(r Resource, inf cache.SharedIndexInformer) {
	c.rmu.Lock()
	c.informers[r.GVR] = inf
	c.byKind[schema.GroupKind{Group: r.GVR.Group, Kind: r.Kind}] = r.GVR
	c.namespaced[r.GVR] = r.Namespaced
	c.rmu.Unlock()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.observe(c.queue, r.GVR, nil, obj) },
		UpdateFunc: func(old, obj interface{}) { c.observe(c.queue, r.GVR, old, obj) },
		DeleteFunc: func(obj interface{}) { c.gone(c.queue, r.GVR, obj) },
	})
}

// Run works until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	if c.Discover != nil {
		go func() {
			t := time.NewTicker(c.DiscoverEvery)
			defer t.Stop()
			for {
				c.rediscover(ctx)
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	return c.loop.Run(ctx)
}

// rediscover follows the served resources the collector was not built
// with, and stops following those of them no longer served.
func (c *Collector) rediscover(ctx context.Context) {
	resources := c.Discover()
	if len(resources) == 0 {
		return // discovery failed: keep following what is followed
	}
	served := map[schema.GroupVersionResource]bool{}
	for _, r := range resources {
		served[r.GVR] = true
		c.rmu.RLock()
		_, known := c.informers[r.GVR]
		c.rmu.RUnlock()
		if known {
			continue
		}
		ictx, cancel := context.WithCancel(ctx)
		inf := metadatainformer.NewFilteredMetadataInformer(c.client, r.GVR, "", 0, cache.Indexers{}, nil).Informer()
		c.follow(r, inf)
		c.rmu.Lock()
		c.dynamic[r.GVR] = cancel
		c.rmu.Unlock()
		go inf.RunWithContext(ictx)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for gvr, cancel := range c.dynamic {
		if !served[gvr] {
			cancel()
			delete(c.dynamic, gvr)
			delete(c.informers, gvr)
			delete(c.namespaced, gvr)
			for gk, v := range c.byKind {
				if v == gvr {
					delete(c.byKind, gk)
				}
			}
		}
	}
}

// gvrOf is the followed resource of an owner reference's kind.
func (c *Collector) gvrOf(ref metav1.OwnerReference) (schema.GroupVersionResource, bool) {
	c.rmu.RLock()
	defer c.rmu.RUnlock()
	gvr, ok := c.byKind[groupKind(ref)]
	return gvr, ok
}

func (c *Collector) informer(gvr schema.GroupVersionResource) (cache.SharedIndexInformer, bool) {
	c.rmu.RLock()
	defer c.rmu.RUnlock()
	inf, ok := c.informers[gvr]
	return inf, ok
}

// item is the collector's work-queue key: one object of one resource.
type item struct {
	gvr       schema.GroupVersionResource
	namespace string
	name      string
}

func itemKey(gvr schema.GroupVersionResource, ns, name string) item {
	return item{gvr: gvr, namespace: ns, name: name}
}

// meta is an informer object's ObjectMeta (nil for anything else).
func meta(obj interface{}) *metav1.ObjectMeta {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	a, ok := obj.(metav1.ObjectMetaAccessor)
	if !ok {
		return nil
	}
	m, _ := a.GetObjectMeta().(*metav1.ObjectMeta)
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
		if gvr, ok := c.gvrOf(ref); ok {
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
		if gvr, ok := c.gvrOf(ref); ok {
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

func hasGCFinalizer(m *metav1.ObjectMeta) bool {
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

// ownerOf is the state of a dependent's owner. An owner the informer does
// not hold (or holds with another UID) is looked up in the API before it
// counts as gone, as kube-controller-manager's collector verifies absent
// owners: an informer that has not caught up must not cost a live owner
// its dependents.
func (c *Collector) ownerOf(ctx context.Context, ns string, ref metav1.OwnerReference) ownerState {
	gvr, ok := c.gvrOf(ref)
	if !ok {
		return ownerUnknownKind
	}
	inf, ok := c.informer(gvr)
	if !ok || !inf.HasSynced() {
		return ownerUnknownKind // not followed (yet): nothing is decided on it
	}
	key := ref.Name
	if ns != "" && c.isNamespaced(gvr) {
		key = ns + "/" + ref.Name
	}
	obj, exists, err := inf.GetStore().GetByKey(key)
	m := meta(obj)
	if err != nil || !exists || m == nil || m.UID != ref.UID {
		api := c.client.Resource(gvr)
		var live *metav1.PartialObjectMetadata
		if c.isNamespaced(gvr) {
			live, err = api.Namespace(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		} else {
			live, err = api.Get(ctx, ref.Name, metav1.GetOptions{})
		}
		switch {
		case apierrors.IsNotFound(err):
			return ownerGone
		case err != nil:
			return ownerUnknownKind // undecided: nothing is deleted on it
		case live.UID != ref.UID:
			return ownerGone
		}
		m = &live.ObjectMeta
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

func (c *Collector) isNamespaced(gvr schema.GroupVersionResource) bool {
	c.rmu.RLock()
	defer c.rmu.RUnlock()
	return c.namespaced[gvr]
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
	inf, ok := c.informer(gvr)
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
		states[i] = c.ownerOf(ctx, ns, ref)
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

// Discovered lists the resources discovery serves that the collector can
// follow (list, watch and delete; Events left out, as kube-controller-
// manager's collector leaves them), the preferred version of each: custom
// resources included. It returns nil when discovery fails.
func Discovered(d discovery.DiscoveryInterface) func() []Resource {
	return func() []Resource {
		lists, err := d.ServerPreferredResources()
		if err != nil && len(lists) == 0 {
			return nil
		}
		var out []Resource
		for _, l := range lists {
			gv, err := schema.ParseGroupVersion(l.GroupVersion)
			if err != nil {
				continue
			}
			for _, r := range l.APIResources {
				if strings.Contains(r.Name, "/") || r.Name == "events" || !slices.Contains(r.Verbs, "list") ||
					!slices.Contains(r.Verbs, "watch") || !slices.Contains(r.Verbs, "delete") {
					continue
				}
				out = append(out, Resource{GVR: gv.WithResource(r.Name), Kind: r.Kind, Namespaced: r.Namespaced})
			}
		}
		return out
	}
}
