// Package controller holds what every svcnet controller shares: a worker
// loop over a rate-limited queue of keys, expectations that keep a
// controller from acting twice on a cache that has not caught up, and the
// leader election that runs every controller once per cluster. The
// controllers themselves live in the subpackages, each with its plumbing in
// controller.go and its pure algorithm in reconcile.go.
package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Loop runs Sync for keys taken from a rate-limited queue.
type Loop struct {
	Name    string
	Queue   workqueue.TypedRateLimitingInterface[string]
	Sync    func(ctx context.Context, key string) error
	Workers int
	Synced  []cache.InformerSynced
	Log     *slog.Logger
}

// NewQueue makes the standard rate-limited queue.
func NewQueue(name string) workqueue.TypedRateLimitingInterface[string] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name})
}

// Enqueue adds the key of obj (namespace/name), also for tombstones.
func Enqueue(q workqueue.TypedRateLimitingInterface[string], obj interface{}) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err == nil {
		q.Add(key)
	}
}

// Run waits for the caches, then works until ctx ends.
func (l *Loop) Run(ctx context.Context) error {
	defer l.Queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), l.Synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%s: caches did not sync", l.Name)
	}
	workers := max(l.Workers, 1)
	var wg sync.WaitGroup
	for i := 0; i < workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait.UntilWithContext(ctx, l.work, time.Second)
		}()
	}
	<-ctx.Done()
	l.Queue.ShutDown()
	wg.Wait()
	return nil
}

func (l *Loop) work(ctx context.Context) {
	for {
		key, quit := l.Queue.Get()
		if quit {
			return
		}
		if _, _, err := cache.SplitMetaNamespaceKey(key); err != nil && !strings.Contains(key, "|") {
			l.Log.Error("dropping a malformed key", "controller", l.Name, "key", key)
			l.Queue.Forget(key)
			l.Queue.Done(key)
			continue
		}
		err := l.Sync(ctx, key)
		switch {
		case err == nil:
			l.Queue.Forget(key)
		case ctx.Err() != nil:
		default:
			level := slog.LevelWarn
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) || apierrors.IsAlreadyExists(err) || errors.Is(err, ErrStaleCache) {
				level = slog.LevelDebug // a stale cache; the retry sees the news
			}
			l.Log.Log(ctx, level, "sync failed; retrying", "controller", l.Name, "key", key, "err", err)
			l.Queue.AddRateLimited(key)
		}
		l.Queue.Done(key)
	}
}

// Expectations remember creates and deletes a controller has asked for and
// not yet seen in its informer, so it does not act on a stale cache. An
// expectation that is not met in time expires.
type Expectations struct {
	mu      sync.Mutex
	pending map[string]*expectation
	ttl     time.Duration
	now     func() time.Time
}

type expectation struct {
	adds, dels int
	at         time.Time
}

// NewExpectations builds expectations that expire after ttl.
func NewExpectations(ttl time.Duration, now func() time.Time) *Expectations {
	return &Expectations{pending: map[string]*expectation{}, ttl: ttl, now: now}
}

// Expect records adds and deletes about to be made for key.
func (e *Expectations) Expect(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pending[key] = &expectation{adds: adds, dels: dels, at: e.now()}
}

// Observed records one add (or delete) seen, or one that will never come.
func (e *Expectations) Observed(key string, add bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.pending[key]; ok {
		if add {
			x.adds--
		} else {
			x.dels--
		}
	}
}

// Satisfied reports whether key's cache can be trusted.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.pending[key]
	if !ok || (x.adds <= 0 && x.dels <= 0) || e.now().Sub(x.at) > e.ttl {
		delete(e.pending, key)
		return true
	}
	return false
}

// Forget drops key's expectations.
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pending, key)
}

// ErrStaleCache says an informer has not yet seen the controller's own
// writes; the retry will.
var ErrStaleCache = errors.New("informer cache is out of date")

// EnqueueHandler enqueues the key of every added, updated and deleted object.
func EnqueueHandler(q workqueue.TypedRateLimitingInterface[string]) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { Enqueue(q, obj) },
		UpdateFunc: func(_, obj interface{}) { Enqueue(q, obj) },
		DeleteFunc: func(obj interface{}) { Enqueue(q, obj) },
	}
}

// OwnerHandler enqueues namespace/name of the controlling owner of kind
// ownerKind of every added, updated and deleted object.
func OwnerHandler(q workqueue.TypedRateLimitingInterface[string], ownerKind string) cache.ResourceEventHandlerFuncs {
	enqueue := func(obj interface{}) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, ok := obj.(metav1.Object)
		if !ok {
			return
		}
		for _, ref := range m.GetOwnerReferences() {
			if ref.Controller != nil && *ref.Controller && ref.Kind == ownerKind {
				q.Add(m.GetNamespace() + "/" + ref.Name)
			}
		}
	}
	return cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, obj interface{}) { enqueue(obj) }, DeleteFunc: enqueue}
}
