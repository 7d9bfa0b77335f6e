package registry

import (
	"context"
	"errors"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/svcnet/svcnet/internal/storage"
)

// WatchOptions of a registry watch.
type WatchOptions struct {
	Selector Selector
	// FromRevision delivers changes after it; 0 means from now.
	FromRevision int64
	// InitialEvents sends ADDED for every matching object first (watch from
	// resourceVersion 0, or sendInitialEvents).
	InitialEvents bool
	// InitialEventsEnd marks the end of the initial events with a BOOKMARK
	// annotated k8s.io/initial-events-end (sendInitialEvents=true).
	InitialEventsEnd bool
	// Bookmarks passes progress events on as BOOKMARKs.
	Bookmarks bool
	// Stored delivers StoredObjects instead of decoded ones when the
	// selector selects everything or the watch cache applied it (a
	// deletion: the last value, at the deletion's revision).
	Stored bool
	// Consistent reads the initial events at the current revision
	// (resourceVersion unset); MinRevision at least at that one.
	Consistent  bool
	MinRevision int64
}

// Watcher is a running watch: Events closes when it ends; ResultChan-style.
type Watcher struct {
	ch     chan watch.Event
	cancel context.CancelFunc
}

// Events delivers the changes; an ERROR event with a Status ends a failed watch.
func (w *Watcher) Events() <-chan watch.Event { return w.ch }

// Stop ends the watch.
func (w *Watcher) Stop() { w.cancel() }

// initialEventsPage is how many objects the initial events of a watch
// read from etcd at a time: the first page goes out while etcd reads the
// next, and a server never holds more than a page (smaller pages cost etcd
// more: each page counts the rest of the range).
const initialEventsPage = 2000

// Watch streams changes to objects of res in ns that match the selector.
func (r *Registry) Watch(ctx context.Context, res *Resource, ns string, o WatchOptions) (*Watcher, error) {
	if c := r.caches[res]; c != nil {
		w, err := r.watchCached(ctx, c, res, ns, o)
		if !fallBack(err) {
			return w, err
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	prefix := r.Prefix(res, ns)
	exactKey := ""
	if name := singleName(o.Selector); name != "" && (ns != "" || !res.Namespaced) {
		exactKey = r.Key(res, ns, name)
		prefix = exactKey
	}
	var initial []runtime.Object
	var more string // continue token of the next page of initial events
	from := o.FromRevision
	if o.InitialEvents {
		list, err := r.List(ctx, res, ns, ListOptions{Selector: o.Selector, Stored: o.Stored, Limit: initialEventsPage})
		if err != nil {
			cancel()
			return nil, err
		}
		initial, from, more = list.Items, list.Revision, list.Continue
	} else if from == 0 {
		rev, err := r.store.CurrentRevision(ctx)
		if err != nil {
			cancel()
			return nil, r.storageError(res, "", err)
		}
		from = rev
	}
	sw, err := r.store.Watch(ctx, prefix, from)
	if err != nil {
		cancel()
		return nil, r.storageError(res, "", err)
	}
	stored := o.Stored && o.Selector.Everything()
	w := &Watcher{ch: make(chan watch.Event, 100), cancel: cancel}
	go func() {
		defer close(w.ch)
		defer cancel()
		send := func(ev watch.Event) bool {
			select {
			case w.ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		// The initial events go out a page at a time (all at the first
		// page's revision): the client decodes the first while the next
		// are read.
		for {
			for _, obj := range initial {
				if !send(watch.Event{Type: watch.Added, Object: obj}) {
					return
				}
			}
			if more == "" {
				break
			}
			list, err := r.List(ctx, res, ns, ListOptions{Selector: o.Selector, Stored: o.Stored, Limit: initialEventsPage, Continue: more})
			if err != nil {
				if ctx.Err() == nil { // e.g. compacted away: the client relists
					var se apierrors.APIStatus
					if !errors.As(err, &se) {
						se = apierrors.NewInternalError(err)
					}
					st := se.Status()
					send(watch.Event{Type: watch.Error, Object: &st})
				}
				return
			}
			initial, more = list.Items, list.Continue
		}
		if o.InitialEventsEnd {
			bm := r.bookmark(res, from)
			m, _ := meta.Accessor(bm)
			m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true"})
			if !send(watch.Event{Type: watch.Bookmark, Object: bm}) {
				return
			}
		}
		for ev := range sw.Events() {
			if ev.Type == storage.EventProgress {
				if o.Bookmarks && !send(watch.Event{Type: watch.Bookmark, Object: r.bookmark(res, ev.Revision)}) {
					return
				}
				continue
			}
			if exactKey != "" && ev.KV.Key != exactKey {
				continue
			}
			var out watch.Event
			var ok bool
			if stored {
				out, ok = storedEvent(res, ev)
			} else {
				out, ok = r.translate(res, o.Selector, ev)
			}
			if ok && !send(out) {
				return
			}
		}
		if err := sw.Err(); err != nil && ctx.Err() == nil {
			var status *apierrors.StatusError
			if errors.Is(err, storage.ErrCompacted) {
				status = apierrors.NewResourceExpired("too old resource version")
			} else {
				status = apierrors.NewInternalError(err)
			}
			st := status.Status()
			send(watch.Event{Type: watch.Error, Object: &st})
		}
	}()
	return w, nil
}

// bookmark is an empty object of the resource's kind at a revision.
func (r *Registry) bookmark(res *Resource, rev int64) runtime.Object {
	obj := res.New()
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return obj
}

// storedEvent turns a storage event into a watch event of a StoredObject.
func storedEvent(res *Resource, ev storage.Event) (watch.Event, bool) {
	switch ev.Type {
	case storage.EventDelete:
		if ev.Prev == nil {
			return watch.Event{}, false
		}
		return watch.Event{Type: watch.Deleted, Object: &StoredObject{Resource: res, Value: ev.Prev.Value, Revision: ev.Revision}}, true
	case storage.EventCreate:
		return watch.Event{Type: watch.Added, Object: &StoredObject{Resource: res, Value: ev.KV.Value, Revision: ev.KV.ModRevision}}, true
	}
	return watch.Event{Type: watch.Modified, Object: &StoredObject{Resource: res, Value: ev.KV.Value, Revision: ev.KV.ModRevision}}, true
}

// translate turns a storage event into a watch event as seen through the
// selector: an object that starts matching is ADDED, one that stops matching
// is DELETED.
func (r *Registry) translate(res *Resource, sel Selector, ev storage.Event) (watch.Event, bool) {
	var cur, prev runtime.Object
	var err error
	if ev.Type != storage.EventDelete {
		if cur, err = r.Decode(res, ev.KV); err != nil {
			r.log.Error("watch: undecodable object", "key", ev.KV.Key, "err", err)
			return watch.Event{}, false
		}
	}
	if ev.Prev != nil && (ev.Type == storage.EventDelete || !sel.Everything()) {
		if prev, err = r.Decode(res, *ev.Prev); err != nil {
			prev = nil
		}
	}
	switch ev.Type {
	case storage.EventDelete:
		if prev == nil || !r.Matches(res, sel, prev) {
			return watch.Event{}, false
		}
		m, _ := meta.Accessor(prev)
		m.SetResourceVersion(strconv.FormatInt(ev.Revision, 10))
		return watch.Event{Type: watch.Deleted, Object: prev}, true
	case storage.EventCreate:
		if !r.Matches(res, sel, cur) {
			return watch.Event{}, false
		}
		return watch.Event{Type: watch.Added, Object: cur}, true
	default:
		now := r.Matches(res, sel, cur)
		was := sel.Everything() || (prev != nil && r.Matches(res, sel, prev))
		switch {
		case now && was:
			return watch.Event{Type: watch.Modified, Object: cur}, true
		case now:
			return watch.Event{Type: watch.Added, Object: cur}, true
		case was:
			// The object left the selection: report its new state as deleted.
			return watch.Event{Type: watch.Deleted, Object: cur}, true
		}
		return watch.Event{}, false
	}
}
