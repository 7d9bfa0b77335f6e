// Package kube is the Kubernetes runtime every svcnet component that works
// from informers shares: a typed worker loop over a rate-limited queue,
// expectations that keep a controller from acting twice on a cache that has
// not caught up, leader election, the "EndpointSlices by Service" informer
// index, the informer transform that drops managedFields, and Kubernetes'
// pod-template hash. It knows no controller and no API server.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Queue is the rate-limited work queue of keys K.
type Queue[K comparable] = workqueue.TypedRateLimitingInterface[K]

// NewQueue makes the standard rate-limited queue: 5 ms doubling to 30 s
// per failing key.
func NewQueue[K comparable](name string) Queue[K] {
	return workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[K](5*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[K]{Name: name})
}

// Loop runs Sync for keys taken from Queue by Workers goroutines.
type Loop[K comparable] struct {
	Name    string
	Queue   Queue[K]
	Sync    func(ctx context.Context, key K) error
	Workers int
	Synced  []cache.InformerSynced
	Log     *slog.Logger
}

// Run waits for the caches, then works until ctx ends.
func (l *Loop[K]) Run(ctx context.Context) error {
	defer l.Queue.ShutDown()
	if !cache.WaitForCacheSync(ctx.Done(), l.Synced...) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%s: caches did not sync", l.Name)
	}
	var wg sync.WaitGroup
	for range max(l.Workers, 1) {
		wg.Go(func() { wait.UntilWithContext(ctx, l.work, time.Second) })
	}
	<-ctx.Done()
	l.Queue.ShutDown()
	wg.Wait()
	return nil
}

func (l *Loop[K]) work(ctx context.Context) {
	for {
		key, quit := l.Queue.Get()
		if quit {
			return
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

// ErrStaleCache says an informer has not yet seen the controller's own
// writes; the retry will.
var ErrStaleCache = errors.New("informer cache is out of date")

// Enqueue adds the key of obj (namespace/name), also for tombstones.
func Enqueue(q Queue[string], obj any) {
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
		q.Add(key)
	}
}

// EnqueueHandler enqueues the key of every added, updated and deleted object.
func EnqueueHandler(q Queue[string]) cache.ResourceEventHandlerFuncs {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { Enqueue(q, obj) },
		UpdateFunc: func(_, obj any) { Enqueue(q, obj) },
		DeleteFunc: func(obj any) { Enqueue(q, obj) },
	}
}

// OwnerKey is the "namespace/name" of an object's controlling owner of
// kind ownerKind (an event's object, tombstones too); ok false otherwise.
func OwnerKey(obj any, ownerKind string) (string, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(metav1.Object)
	if !ok {
		return "", false
	}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil && ref.Kind == ownerKind {
		return m.GetNamespace() + "/" + ref.Name, true
	}
	return "", false
}

// OwnerHandler enqueues namespace/name of the controlling owner of kind
// ownerKind of every added, updated and deleted object.
func OwnerHandler(q Queue[string], ownerKind string) cache.ResourceEventHandlerFuncs {
	enqueue := func(obj any) {
		if key, ok := OwnerKey(obj, ownerKind); ok {
			q.Add(key)
		}
	}
	return cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue}
}
