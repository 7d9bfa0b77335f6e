package customresource

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/svcnet/svcnet/internal/registry"
)

// Controller serves the stored definitions: it registers each accepted
// definition's resources with the registry, writes the definition's status,
// and on deletion removes its objects, then its finalizer. It reads and
// writes through the registry, in the API server's process, so a definition
// is served by the time its create's watch event is handled (well within a
// second).
type Controller struct {
	reg *registry.Registry
	def *registry.Resource
	log *slog.Logger
	now func() time.Time
	// Changed is called after the served resources changed, with the
	// OpenAPI v3 documents and the v2 paths and definitions of every served
	// definition (OpenAPIV3, OpenAPIV2).
	Changed func(openAPIV3 map[string][]byte, openAPIV2 []byte)

	mu     sync.Mutex
	served map[string]schema.GroupResource // definition name ▶ what it serves
	defs   map[string]*apiextensionsv1.CustomResourceDefinition
	// dirty asks for the OpenAPI documents to be rebuilt: a burst of
	// definitions (the Gateway API's ten) is built once, off the path
	// that serves them.
	dirty chan struct{}
}

// NewController makes a controller for the definitions in def.
func NewController(reg *registry.Registry, def *registry.Resource, log *slog.Logger) *Controller {
	return &Controller{reg: reg, def: def, log: log, now: time.Now, served: map[string]schema.GroupResource{}, defs: map[string]*apiextensionsv1.CustomResourceDefinition{}, dirty: make(chan struct{}, 1)}
}

// Sync serves every stored definition; call it before the API serves, so a
// restarted server serves its custom resources from the first request. It
// returns the revision it read at.
func (c *Controller) Sync(ctx context.Context) (int64, error) {
	list, err := c.reg.List(ctx, c.def, "", registry.ListOptions{})
	if err != nil {
		return 0, err
	}
	for _, obj := range list.Items {
		if obj, err = c.reg.Object(obj); err == nil {
			c.handle(ctx, obj.(*apiextensionsv1.CustomResourceDefinition))
		}
	}
	return list.Revision, nil
}

// Run follows the definitions until ctx ends, from revision rev (Sync's);
// a failed watch lists again.
func (c *Controller) Run(ctx context.Context, rev int64) error {
	go c.publish(ctx)
	for ctx.Err() == nil {
		w, err := c.reg.Watch(ctx, c.def, "", registry.WatchOptions{FromRevision: rev})
		if err == nil {
			rev = c.follow(ctx, w, rev)
			w.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
		if r, err := c.Sync(ctx); err == nil {
			rev = r
		}
	}
	return nil
}

// follow handles a watch's events; it returns the last revision seen.
func (c *Controller) follow(ctx context.Context, w *registry.Watcher, rev int64) int64 {
	retry := time.NewTicker(2 * time.Second) // deletions waiting for objects' finalizers
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return rev
		case <-retry.C:
			c.retryTerminating(ctx)
		case ev, ok := <-w.Events():
			if !ok || ev.Type == watch.Error {
				return rev
			}
			obj, err := c.reg.Object(ev.Object)
			if err != nil {
				continue
			}
			crd, ok := obj.(*apiextensionsv1.CustomResourceDefinition)
			if !ok {
				continue
			}
			if r := revisionOf(crd); r > rev {
				rev = r
			}
			if ev.Type == watch.Deleted {
				c.unserve(crd.Name)
				continue
			}
			c.handle(ctx, crd)
		}
	}
}

func revisionOf(obj metav1.Object) int64 {
	var r int64
	_, _ = fmt.Sscan(obj.GetResourceVersion(), &r)
	return r
}

// retryTerminating handles again the definitions being deleted.
func (c *Controller) retryTerminating(ctx context.Context) {
	c.mu.Lock()
	names := make([]string, 0, len(c.served))
	for n := range c.served {
		names = append(names, n)
	}
	c.mu.Unlock()
	for _, n := range names {
		obj, err := c.reg.Get(ctx, c.def, "", n)
		if err != nil {
			continue
		}
		if crd := obj.(*apiextensionsv1.CustomResourceDefinition); crd.DeletionTimestamp != nil {
			c.handle(ctx, crd)
		}
	}
}

// handle brings one definition's serving and status in line with it.
func (c *Controller) handle(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) {
	if crd.DeletionTimestamp != nil {
		c.terminate(ctx, crd)
		return
	}
	want := crd.DeepCopy()
	gr := schema.GroupResource{Group: crd.Spec.Group, Resource: crd.Spec.Names.Plural}
	if conflict := c.conflict(crd); conflict != "" {
		setCondition(want, apiextensionsv1.NamesAccepted, apiextensionsv1.ConditionFalse, "NameConflict", conflict, c.now())
		if condition(want, apiextensionsv1.Established) != apiextensionsv1.ConditionTrue {
			setCondition(want, apiextensionsv1.Established, apiextensionsv1.ConditionFalse, "NotAccepted", "not all names are accepted", c.now())
		}
		c.writeStatus(ctx, crd, want)
		return
	}
	want.Status.AcceptedNames = crd.Spec.Names
	if v := storageVersion(crd); v != "" && !slices.Contains(want.Status.StoredVersions, v) {
		want.Status.StoredVersions = append(want.Status.StoredVersions, v)
	}
	resources, err := Resources(want)
	if err != nil {
		// Validation admits only definitions the schema packages take; a
		// failure here is a bug, reported on the definition.
		c.log.Error("custom resource definition not served", "crd", crd.Name, "err", err)
		setCondition(want, apiextensionsv1.Established, apiextensionsv1.ConditionFalse, "Invalid", err.Error(), c.now())
		c.writeStatus(ctx, crd, want)
		return
	}
	c.mu.Lock()
	old, had := c.served[crd.Name]
	c.served[crd.Name] = gr
	prev := c.defs[crd.Name]
	c.defs[crd.Name] = want
	c.mu.Unlock()
	if had && old != gr {
		c.reg.SetDynamic(old, nil)
	}
	if prev == nil || !apiequality.Semantic.DeepEqual(prev.Spec, want.Spec) || !apiequality.Semantic.DeepEqual(prev.Status.AcceptedNames, want.Status.AcceptedNames) {
		c.reg.SetDynamic(gr, resources)
		c.changed()
	}
	setCondition(want, apiextensionsv1.NamesAccepted, apiextensionsv1.ConditionTrue, "NoConflicts", "no conflicts found", c.now())
	setCondition(want, apiextensionsv1.Established, apiextensionsv1.ConditionTrue, "InitialNamesAccepted", "the initial names have been accepted", c.now())
	c.writeStatus(ctx, crd, want)
}

// conflict names a clash of the definition's names with a built-in
// resource or another definition in its group, or "".
func (c *Controller) conflict(crd *apiextensionsv1.CustomResourceDefinition) string {
	n := crd.Spec.Names
	mine := func(res *registry.Resource) bool {
		return res.Custom() && res.StorageName == crd.Spec.Group+"/"+n.Plural
	}
	for _, res := range c.reg.Resources() {
		if res.GVR.Group != crd.Spec.Group || mine(res) {
			continue
		}
		switch {
		case res.GVR.Resource == n.Plural:
			return fmt.Sprintf("%q is already in use", n.Plural)
		case res.Singular == n.Singular:
			return fmt.Sprintf("%q is already in use", n.Singular)
		case res.Kind == n.Kind:
			return fmt.Sprintf("%q is already in use", n.Kind)
		case res.ListKind == n.ListKind:
			return fmt.Sprintf("%q is already in use", n.ListKind)
		}
		for _, s := range n.ShortNames {
			if slices.Contains(res.ShortNames, s) {
				return fmt.Sprintf("%q is already in use", s)
			}
		}
	}
	return ""
}

// writeStatus writes want's status if it differs from crd's.
func (c *Controller) writeStatus(ctx context.Context, crd, want *apiextensionsv1.CustomResourceDefinition) {
	if apiequality.Semantic.DeepEqual(crd.Status, want.Status) {
		return
	}
	_, err := c.reg.Update(ctx, c.def, "", crd.Name, func(cur runtime.Object) (runtime.Object, error) {
		cd := cur.(*apiextensionsv1.CustomResourceDefinition)
		if cd.UID != crd.UID {
			return nil, apierrors.NewConflict(DefinitionGVR.GroupResource(), crd.Name, fmt.Errorf("replaced"))
		}
		cd.Status = want.Status
		return cd, nil
	}, registry.UpdateOptions{Subresource: "status"})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		c.log.Warn("custom resource definition status", "crd", crd.Name, "err", err)
	}
}

// terminate deletes a deleted definition's objects (each honouring its own
// finalizers), then stops serving it and removes its cleanup finalizer.
func (c *Controller) terminate(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) {
	if !slices.Contains(crd.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer) {
		return
	}
	c.mu.Lock()
	gr, ok := c.served[crd.Name]
	c.mu.Unlock()
	remaining := 0
	if res, found := c.reg.Resource(gr); ok && found {
		list, err := c.reg.List(ctx, res, "", registry.ListOptions{})
		if err != nil {
			return
		}
		for _, obj := range list.Items {
			obj, err := c.reg.Object(obj)
			if err != nil {
				continue
			}
			m, _ := obj.(metav1.Object)
			if m.GetDeletionTimestamp() == nil {
				_, _, _ = c.reg.Delete(ctx, res, m.GetNamespace(), m.GetName(), registry.DeleteOptions{})
			}
			if _, err := c.reg.Get(ctx, res, m.GetNamespace(), m.GetName()); err == nil {
				remaining++
			}
		}
	}
	if remaining > 0 {
		want := crd.DeepCopy()
		setCondition(want, apiextensionsv1.Terminating, apiextensionsv1.ConditionTrue, "InstanceDeletionInProgress",
			fmt.Sprintf("CustomResource deletion is in progress: %d remaining", remaining), c.now())
		c.writeStatus(ctx, crd, want)
		return // retried by retryTerminating
	}
	c.unserve(crd.Name)
	_, err := c.reg.Update(ctx, c.def, "", crd.Name, func(cur runtime.Object) (runtime.Object, error) {
		cd := cur.(*apiextensionsv1.CustomResourceDefinition)
		cd.Finalizers = slices.DeleteFunc(cd.Finalizers, func(f string) bool { return f == apiextensionsv1.CustomResourceCleanupFinalizer })
		return cd, nil
	}, registry.UpdateOptions{Retry: true})
	if err != nil && !apierrors.IsNotFound(err) {
		c.log.Warn("custom resource definition finalizer", "crd", crd.Name, "err", err)
	}
}

// unserve stops serving what a definition served.
func (c *Controller) unserve(name string) {
	c.mu.Lock()
	gr, ok := c.served[name]
	delete(c.served, name)
	delete(c.defs, name)
	c.mu.Unlock()
	if ok {
		c.reg.SetDynamic(gr, nil)
		c.changed()
	}
}

// changed marks the documents for rebuilding.
func (c *Controller) changed() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

// publish rebuilds the documents when they are marked, until ctx ends.
func (c *Controller) publish(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.dirty:
			c.report()
		}
	}
}

// report gives Changed the served definitions' documents.
func (c *Controller) report() {
	if c.Changed == nil {
		return
	}
	c.mu.Lock()
	defs := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(c.defs))
	for _, d := range c.defs {
		defs = append(defs, d)
	}
	c.mu.Unlock()
	c.Changed(OpenAPIV3(defs), OpenAPIV2(defs))
}
