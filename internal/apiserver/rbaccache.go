package apiserver

import (
	"context"
	"sync"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/svcnet/svcnet/internal/rbac"
	"github.com/svcnet/svcnet/internal/registry"
)

// rbacCache holds the RBAC objects in memory, kept by a list and a watch
// of each of the four kinds, so that authorizing a request reads no etcd.
// It is the rbac.Source the authorizer reads.
type rbacCache struct {
	mu sync.RWMutex
	// objects of each kind by namespace/name ("" namespace for cluster kinds).
	objects map[string]map[string]runtime.Object
	synced  chan struct{}
	once    sync.Once
}

var rbacResources = []string{"roles", "clusterroles", "rolebindings", "clusterrolebindings"}

func newRBACCache() *rbacCache {
	c := &rbacCache{objects: map[string]map[string]runtime.Object{}, synced: make(chan struct{})}
	for _, r := range rbacResources {
		c.objects[r] = map[string]runtime.Object{}
	}
	return c
}

// run follows the four kinds until ctx ends; synced closes once each has
// been listed.
func (c *rbacCache) run(ctx context.Context, reg *registry.Registry) {
	var wg sync.WaitGroup
	listed := make(chan struct{}, len(rbacResources))
	for _, name := range rbacResources {
		res, ok := reg.Resource(schema.GroupResource{Group: rbacv1.GroupName, Resource: name})
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
		for range rbacResources {
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
func (c *rbacCache) follow(ctx context.Context, reg *registry.Registry, res *registry.Resource, listed func()) error {
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

type watchEndedError struct{}

func (watchEndedError) Error() string { return "watch ended" }

var errWatchEnded error = watchEndedError{}

func objectKey(obj runtime.Object) string {
	m, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return m.GetNamespace() + "/" + m.GetName()
}

func (c *rbacCache) each(resource string, fn func(runtime.Object)) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, o := range c.objects[resource] {
		fn(o)
	}
}

func (c *rbacCache) get(resource, ns, name string) runtime.Object {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.objects[resource][ns+"/"+name]
}

func (c *rbacCache) ClusterRoles() []*rbacv1.ClusterRole {
	var out []*rbacv1.ClusterRole
	c.each("clusterroles", func(o runtime.Object) { out = append(out, o.(*rbacv1.ClusterRole)) })
	return out
}

func (c *rbacCache) ClusterRoleBindings() []*rbacv1.ClusterRoleBinding {
	var out []*rbacv1.ClusterRoleBinding
	c.each("clusterrolebindings", func(o runtime.Object) { out = append(out, o.(*rbacv1.ClusterRoleBinding)) })
	return out
}

func (c *rbacCache) RoleBindings(ns string) []*rbacv1.RoleBinding {
	var out []*rbacv1.RoleBinding
	c.each("rolebindings", func(o runtime.Object) {
		if b := o.(*rbacv1.RoleBinding); b.Namespace == ns {
			out = append(out, b)
		}
	})
	return out
}

func (c *rbacCache) Role(ns, name string) *rbacv1.Role {
	r, _ := c.get("roles", ns, name).(*rbacv1.Role)
	return r
}

func (c *rbacCache) ClusterRole(name string) *rbacv1.ClusterRole {
	r, _ := c.get("clusterroles", "", name).(*rbacv1.ClusterRole)
	return r
}

var _ rbac.Source = (*rbacCache)(nil)
