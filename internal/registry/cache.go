package registry

import (
	"context"
	"errors"
	"maps"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/svcnet/svcnet/internal/intern"
	"github.com/svcnet/svcnet/internal/watchcache"
)

// CacheConfig tunes the watch caches (zero values: the caches' defaults).
type CacheConfig struct {
	Window           int
	BookmarkInterval time.Duration
	// PackAfter and PackMin: when a cache compresses cold objects
	// (watchcache.Config).
	PackAfter time.Duration
	PackMin   int
}

// StartCaches gives every stored resource but Events a watch cache, fed by
// one etcd watch each, until ctx ends. Lists and watches are answered from
// them once they have listed; until then (and whenever one relists) they
// read etcd as before. Call it before serving.
func (r *Registry) StartCaches(ctx context.Context, cfg CacheConfig) {
	r.caches = map[*Resource]*watchcache.Cache{}
	for _, res := range r.Resources() {
		// Events churn and are read by name or listed rarely, as
		// kube-apiserver's default leaves them.
		if !res.Stored() || res.GroupResource().Resource == "events" {
			continue
		}
		c := watchcache.New(watchcache.Config{
			Store:            r.store,
			Prefix:           r.Prefix(res, ""),
			Attrs:            r.attrs(res),
			IndexFields:      res.IndexFields,
			Window:           cfg.Window,
			BookmarkInterval: cfg.BookmarkInterval,
			PackAfter:        cfg.PackAfter,
			PackMin:          cfg.PackMin,
			Log:              r.log,
		})
		r.caches[res] = c
		go c.Run(ctx)
	}
}

// attrs reads an object's labels and selectable fields for the cache.
func (r *Registry) attrs(res *Resource) watchcache.AttrsFunc {
	names := slices.Sorted(maps.Keys(r.FieldSet(res, res.New())))
	return func(key string, value []byte) (labels.Set, fields.Fields, error) {
		obj, err := r.decodeValue(res, key, value, 0)
		if err != nil {
			return nil, nil, err
		}
		m, _ := meta.Accessor(obj)
		var l labels.Set
		if len(m.GetLabels()) > 0 {
			l = labels.Set(r.labels.Share(m.GetLabels()))
		}
		set := r.FieldSet(res, obj)
		for n, v := range set {
			set[n] = shareValue(key, v)
		}
		return l, watchcache.NewFields(names, set), nil
	}
}

// shareValue is a field's value as the cache keeps it: the end of the
// object's key when it is the object's name (no copy of its own), else the
// interned string (namespaces, node names, phases repeat).
func shareValue(key, v string) string {
	if len(v) < len(key) && key[len(key)-len(v)-1] == '/' && key[len(key)-len(v):] == v {
		return key[len(key)-len(v):]
	}
	return intern.String(v)
}

// fallBack reports whether a cache's error means "read etcd instead".
func fallBack(err error) bool {
	return errors.Is(err, watchcache.ErrNotReady) || errors.Is(err, watchcache.ErrNoSnapshot) || errors.Is(err, watchcache.ErrTooOld)
}

// selection is the cache's view of a list or watch's scope.
func (r *Registry) selection(res *Resource, ns string, sel Selector) watchcache.Selection {
	s := watchcache.Selection{Prefix: r.Prefix(res, ns), Labels: sel.Labels, Fields: sel.Fields}
	if name := singleName(sel); name != "" && (ns != "" || !res.Namespaced) {
		s.Key = r.Key(res, ns, name)
	}
	return s
}

// listCached answers a list from the watch cache.
func (r *Registry) listCached(ctx context.Context, c *watchcache.Cache, res *Resource, ns string, o ListOptions) (ListResult, error) {
	sel := r.selection(res, ns, o.Selector)
	lo := watchcache.ListOptions{Selection: sel, Limit: o.Limit,
		Read: watchcache.Read{Consistent: !o.Stale && o.MinRevision == 0, MinRevision: o.MinRevision}}
	tokenPrefix := sel.Prefix
	if sel.Key != "" {
		tokenPrefix = sel.Key
	}
	if o.Continue != "" {
		tok, err := decodeContinue(o.Continue, tokenPrefix)
		if err != nil {
			return ListResult{}, apierrors.NewBadRequest(err.Error())
		}
		lo.Snapshot, lo.StartKey = tok.Revision, tok.Start
	}
	page, err := c.List(ctx, lo)
	switch {
	case errors.Is(err, watchcache.ErrTimeout):
		if o.MinRevision > 0 {
			return ListResult{}, TooLargeResourceVersion(o.MinRevision, c.Revision())
		}
		// A consistent read the cache could not catch up with: etcd
		// answers it, as kube-apiserver falls back.
		return ListResult{}, watchcache.ErrNotReady
	case err != nil:
		if fallBack(err) {
			return ListResult{}, err
		}
		return ListResult{}, r.storageError(res, "", err)
	}
	out := ListResult{Items: make([]runtime.Object, 0, len(page.Items)), Revision: page.Revision}
	for _, obj := range page.Items {
		dec, err := r.cachedObject(res, obj, obj.Revision, o.Stored)
		if err != nil {
			r.log.Error("skipping undecodable object", "key", obj.Key, "err", err)
			continue
		}
		out.Items = append(out.Items, dec)
	}
	if page.Next != "" {
		out.Continue = encodeContinue(continueToken{Start: page.Next, Revision: page.Revision}, tokenPrefix)
		if page.Remaining >= 0 {
			rem := page.Remaining
			out.Remaining = &rem
		}
	}
	return out, nil
}

// watchCached serves a watch from the watch cache. It reports fallBack
// errors when etcd should serve it instead.
func (r *Registry) watchCached(ctx context.Context, c *watchcache.Cache, res *Resource, ns string, o WatchOptions) (*Watcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	cw, err := c.Watch(ctx, watchcache.WatchOptions{
		Selection:    r.selection(res, ns, o.Selector),
		FromRevision: o.FromRevision,
		Initial:      o.InitialEvents,
		InitialEnd:   o.InitialEventsEnd,
		Read:         watchcache.Read{Consistent: o.Consistent, MinRevision: o.MinRevision},
		Bookmarks:    o.Bookmarks,
	})
	if err != nil {
		cancel()
		switch {
		case errors.Is(err, watchcache.ErrTimeout):
			if !o.InitialEvents || o.MinRevision > 0 {
				return nil, TooLargeResourceVersion(max(o.FromRevision, o.MinRevision), c.Revision())
			}
			return nil, watchcache.ErrNotReady
		case fallBack(err):
			return nil, err
		}
		return nil, r.storageError(res, "", err)
	}
	w := &Watcher{ch: make(chan watch.Event, 100), cancel: cancel}
	go func() {
		defer close(w.ch)
		defer cancel()
		defer cw.Stop()
		for {
			ev, ok := cw.Next(ctx)
			if !ok {
				return
			}
			var out watch.Event
			switch ev.Type {
			case watchcache.Bookmark:
				out = watch.Event{Type: watch.Bookmark, Object: r.bookmark(res, ev.Revision)}
			case watchcache.InitialEventsEnd:
				bm := r.bookmark(res, ev.Revision)
				m, _ := meta.Accessor(bm)
				m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
				out = watch.Event{Type: watch.Bookmark, Object: bm}
			default:
				obj, err := r.cachedObject(res, ev.Object, ev.Revision, o.Stored)
				if err != nil {
					r.log.Error("watch: undecodable object", "key", ev.Object.Key, "err", err)
					continue
				}
				out = watch.Event{Type: watchTypes[ev.Type], Object: obj}
			}
			select {
			case w.ch <- out:
			case <-ctx.Done():
				return
			}
		}
	}()
	return w, nil
}

var watchTypes = map[watchcache.EventType]watch.EventType{
	watchcache.Added: watch.Added, watchcache.Modified: watch.Modified, watchcache.Deleted: watch.Deleted,
}

// cachedObject is a cached object as a watch or list hands it out, at rev.
func (r *Registry) cachedObject(res *Resource, obj *watchcache.Object, rev int64, stored bool) (runtime.Object, error) {
	if stored && obj.Packed() {
		return &StoredObject{Resource: res, cached: obj, Revision: rev}, nil
	}
	value, err := obj.Value()
	if err != nil {
		return nil, err
	}
	if stored {
		return &StoredObject{Resource: res, Value: value, Revision: rev}, nil
	}
	return r.decodeValue(res, obj.Key, value, rev)
}

var (
	cacheObjectsDesc = prometheus.NewDesc("svcnet_watch_cache_objects", "Objects in a resource's watch cache, by how they are held (packed: compressed once cold).",
		[]string{"resource", "form"}, nil)
	cacheBytesDesc = prometheus.NewDesc("svcnet_watch_cache_bytes", "Bytes of the objects in a resource's watch cache, as held.",
		[]string{"resource", "form"}, nil)
)

// CacheCollector reports the watch caches' objects and bytes on every
// scrape (a walk of each cache).
func (r *Registry) CacheCollector() prometheus.Collector { return cacheCollector{r} }

type cacheCollector struct{ r *Registry }

func (cc cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cacheObjectsDesc
	ch <- cacheBytesDesc
}

func (cc cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for res, c := range cc.r.caches {
		st := c.Stats()
		name := res.GroupResource().String()
		ch <- prometheus.MustNewConstMetric(cacheObjectsDesc, prometheus.GaugeValue, float64(st.Objects-st.Packed), name, "plain")
		ch <- prometheus.MustNewConstMetric(cacheObjectsDesc, prometheus.GaugeValue, float64(st.Packed), name, "packed")
		ch <- prometheus.MustNewConstMetric(cacheBytesDesc, prometheus.GaugeValue, float64(st.PlainBytes), name, "plain")
		ch <- prometheus.MustNewConstMetric(cacheBytesDesc, prometheus.GaugeValue, float64(st.PackedBytes), name, "packed")
	}
}
