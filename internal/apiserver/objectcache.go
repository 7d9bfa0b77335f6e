package apiserver

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/svcnet/svcnet/internal/rbac"
	"github.com/svcnet/svcnet/internal/registry"
)

// objectCache holds the objects the API server reads on every request in
// memory — the RBAC objects the authorizer reads (it is the rbac.Source),
// the ServiceAccounts and PriorityClasses pod admission reads — kept by a
// list and a watch of each kind, so that neither reads etcd.
type objectCache struct {
	mu sync.RWMutex
	// objects of each resource by namespace/name ("" namespace for cluster kinds).
	objects map[string]map[string]runtime.Object
	synced  chan struct{}
	once    sync.Once
}

// cachedResources are the resources the API server keeps in memory.
var cachedResources = []schema.GroupResource{
	{Group: rbacv1.GroupName, Resource: "roles"}, {Group: rbacv1.GroupName, Resource: "clusterroles"},
	{Group: rbacv1.GroupName, Resource: "rolebindings"}, {Group: rbacv1.GroupName, Resource: "clusterrolebindings"},
	{Group: "scheduling.k8s.io", Resource: "priorityclasses"}, {Resource: "serviceaccounts"},
}

func newObjectCache() *objectCache {
	c := &objectCache{objects: map[string]map[string]runtime.Object{}, synced: make(chan struct{})}
	for _, r := range cachedResources {
		c.objects[r.Resource] = map[string]runtime.Object{}
	}
	return c
}

// run follows the resources until ctx ends; synced closes once each has
// been listed.
func (c *objectCache) run(ctx context.Context, reg *registry.Registry) {
	var wg sync.WaitGroup
	listed := make(chan struct{}, len(cachedResources))
	for _, gr := range cachedResources {
		res, ok := reg.Resource(gr)
		if !ok {
			listed <- struct{}{}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for ctx.Err() == nil {
				if err := c.follow(ctx, reg, res, func() {
					if first {
						first = false
						listed <- struct{}{}
					}
				}); err != nil && ctx.Err() == nil {
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
				}
			}
		}()
	}
	go func() {
		for range cachedResources {
			select {
			case <-listed:
			case <-ctx.Done():
				return
			}
		}
		c.once.Do(func() { close(c.synced) })
	}()
	wg.Wait()
}

// follow lists res into the cache, then applies its watch until it fails.
func (c *objectCache) follow(ctx context.Context, reg *registry.Registry, res *registry.Resource, listed func()) error {
	page, err := reg.List(ctx, res, "", registry.ListOptions{})
	if err != nil {
		return err
	}
	fresh := map[string]runtime.Object{}
	for _, obj := range page.Items {
		fresh[objectKey(obj)] = obj
	}
	c.mu.Lock()
	c.objects[res.GVR.Resource] = fresh
	c.mu.Unlock()
	listed()
	w, err := reg.Watch(ctx, res, "", registry.WatchOptions{FromRevision: page.Revision})
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.Events() {
		switch ev.Type {
		case watch.Added, watch.Modified:
			c.mu.Lock()
			c.objects[res.GVR.Resource][objectKey(ev.Object)] = ev.Object
			c.mu.Unlock()
		case watch.Deleted:
			c.mu.Lock()
			delete(c.objects[res.GVR.Resource], objectKey(ev.Object))
			c.mu.Unlock()
		case watch.Error:
			return errWatchEnded
		}
	}
	return errWatchEnded
}

var errWatchEnded = errors.New("watch ended")

func objectKey(obj runtime.Object) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return m.GetNamespace() + "/" + m.GetName()
}

func (c *objectCache) each(resource string, fn func(runtime.Object)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, o := range c.objects[resource] {
		fn(o)
	}
}

func (c *objectCache) get(resource, ns, name string) runtime.Object {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.objects[resource][ns+"/"+name]
}

func (c *objectCache) ClusterRoles() []*rbacv1.ClusterRole {
	var out []*rbacv1.ClusterRole
	c.each("clusterroles", func(o runtime.Object) { out = append(out, o.(*rbacv1.ClusterRole)) })
	return out
}

func (c *objectCache) ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	var out []*rbacv1.ClusterRoleBinding
	c.each("clusterrolebindings", func(o runtime.Object) { out = append(out, o.(*rbacv1.ClusterRoleBinding)) })
	return out
}

func (c *objectCache) RoleBindings(ns string) []*rbacv1.RoleBinding {
	var out []*rbacv1.RoleBinding
	c.each("rolebindings", func(o runtime.Object) {
		if b := o.(*rbacv1.RoleBinding); b.Namespace == ns {
			out = append(out, b)
		}
	})
	return out
}

func (c *objectCache) Role(ns, name string) *rbacv1.Role {
	r, _ := c.get("roles", ns, name).(*rbacv1.Role)
	return r
}

func (c *objectCache) ClusterRole(name string) *rbacv1.ClusterRole {
	r, _ := c.get("clusterroles", "", name).(*rbacv1.ClusterRole)
	return r
}

// PriorityClass is the named class, nil if none.
func (c *objectCache) PriorityClass(name string) *schedulingv1.PriorityClass {
	pc, _ := c.get("priorityclasses", "", name).(*schedulingv1.PriorityClass)
	return pc
}

// PriorityClasses are every class.
func (c *objectCache) PriorityClasses() []*schedulingv1.PriorityClass {
	var out []*schedulingv1.PriorityClass
	c.each("priorityclasses", func(o runtime.Object) { out = append(out, o.(*schedulingv1.PriorityClass)) })
	return out
}

// ServiceAccount is the named ServiceAccount, nil if none.
func (c *objectCache) ServiceAccount(ns, name string) *corev1.ServiceAccount {
	sa, _ := c.get("serviceaccounts", ns, name).(*corev1.ServiceAccount)
	return sa
}

var _ rbac.Source = (*objectCache)(nil)
