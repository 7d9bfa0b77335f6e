package watchcache

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"

	"github.com/google/btree"
	"k8s.io/apimachinery/pkg/selection"
)

// ErrTooSlow ends a watcher whose client fell behind by more than the
// queue allows; the client watches again from the last revision it saw.
var ErrTooSlow = errors.New("watchcache: watcher too slow")

// WatchOptions of a watch from the cache.
type WatchOptions struct {
	Selection
	// FromRevision: changes after it (when not Initial).
	FromRevision int64
	// Initial: ADDED for every selected object first, read as Read says;
	// InitialEnd then marks their end with an InitialEventsEnd bookmark.
	Initial    bool
	InitialEnd bool
	Read       Read
	Bookmarks  bool
}

// Watcher is a running watch on the cache.
type Watcher struct {
	c   *Cache
	sel Selection

	// The initial state, read from a snapshot outside the cache's lock.
	initial    []*Object
	pos        int
	initTree   *btree.BTreeG[*Object]
	next       string // the snapshot's next key
	initialEnd bool
	startRev   int64

	// Where the watcher sits in the dispatch sets.
	labelKeys []string
	field     [2]string

	mu     sync.Mutex
	queue  []Event
	signal chan struct{}
	done   bool
	err    error
}

// Watch starts a watch. With FromRevision older than the window it fails
// with ErrTooOld; before the cache is ready, with ErrNotReady.
func (c *Cache) Watch(ctx context.Context, o WatchOptions) (*Watcher, error) {
	if o.Initial {
		if err := c.settle(ctx, o.Read); err != nil {
			return nil, err
		}
	} else if o.FromRevision > 0 {
		if err := c.waitFor(ctx, o.FromRevision); err != nil {
			return nil, err
		}
	}
	w := &Watcher{c: c, sel: o.Selection, signal: make(chan struct{}, 1), initialEnd: o.InitialEnd}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.ready {
		return nil, ErrNotReady
	}
	switch {
	case o.Initial:
		w.startRev = c.rev
		if o.Key != "" {
			if obj, ok := c.tree.Get(&Object{Key: o.Key}); ok && o.Matches(obj) {
				w.initial = []*Object{obj}
			}
		} else if cands, ok := c.candidatesLocked(o.Selection); ok {
			for _, obj := range cands {
				if o.Matches(obj) {
					w.initial = append(w.initial, obj)
				}
			}
			sort.Slice(w.initial, func(i, j int) bool { return w.initial[i].Key < w.initial[j].Key })
		} else {
			w.initTree = c.tree.Clone()
		}
	case o.FromRevision == 0:
		w.startRev = c.rev
	default:
		if o.FromRevision < c.windowStart {
			return nil, ErrTooOld
		}
		w.startRev = o.FromRevision
		i := sort.Search(len(c.window), func(i int) bool { return c.window[i].rev > o.FromRevision })
		for _, ch := range c.window[i:] {
			if ev, ok := w.translate(ch); ok {
				w.queue = append(w.queue, ev)
			}
		}
	}
	c.registerLocked(w, o.Bookmarks)
	go func() {
		<-ctx.Done()
		w.Stop()
	}()
	return w, nil
}

// StartRevision is the revision the watch starts after (its initial
// state's revision).
func (w *Watcher) StartRevision() int64 { return w.startRev }

// registerLocked files the watcher in the dispatch sets: under a pinned
// indexed field value, else under its pinned labels, else by prefix.
func (c *Cache) registerLocked(w *Watcher, bookmarks bool) {
	c.watchers[w] = struct{}{}
	if bookmarks {
		c.bookmarks[w] = struct{}{}
	}
	if w.sel.Fields != nil {
		for _, f := range c.cfg.IndexFields {
			if v, ok := w.sel.Fields.RequiresExactMatch(f); ok {
				w.field = [2]string{f, v}
				byValue := c.byField[f]
				if byValue == nil {
					byValue = map[string]map[*Watcher]struct{}{}
					c.byField[f] = byValue
				}
				addWatcher(byValue, v, w)
				return
			}
		}
	}
	if w.sel.Labels != nil {
		reqs, _ := w.sel.Labels.Requirements()
		for _, r := range reqs {
			if op := r.Operator(); op == selection.Equals || op == selection.DoubleEquals || op == selection.In {
				for v := range r.Values() {
					lk := labelKey(r.Key(), v)
					w.labelKeys = append(w.labelKeys, lk)
					addWatcher(c.byLabel, lk, w)
				}
				return
			}
		}
	}
	addWatcher(c.plain, w.sel.plainKey(), w)
}

func addWatcher(sets map[string]map[*Watcher]struct{}, k string, w *Watcher) {
	set := sets[k]
	if set == nil {
		set = map[*Watcher]struct{}{}
		sets[k] = set
	}
	set[w] = struct{}{}
}

func removeWatcher(sets map[string]map[*Watcher]struct{}, k string, w *Watcher) {
	if set := sets[k]; set != nil {
		delete(set, w)
		if len(set) == 0 {
			delete(sets, k)
		}
	}
}

// endLocked removes a watcher from the dispatch sets and ends it.
func (c *Cache) endLocked(w *Watcher, err error) {
	if _, ok := c.watchers[w]; !ok {
		return
	}
	delete(c.watchers, w)
	delete(c.bookmarks, w)
	switch {
	case w.field[0] != "":
		if byValue := c.byField[w.field[0]]; byValue != nil {
			removeWatcher(byValue, w.field[1], w)
		}
	case len(w.labelKeys) > 0:
		for _, lk := range w.labelKeys {
			removeWatcher(c.byLabel, lk, w)
		}
	default:
		removeWatcher(c.plain, w.sel.plainKey(), w)
	}
	w.mu.Lock()
	if !w.done {
		w.done, w.err = true, err
		w.queue = nil
	}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// dispatchLocked offers a change to the watchers it may concern.
func (c *Cache) dispatchLocked(ch change) {
	offered := map[*Watcher]struct{}{}
	offer := func(set map[*Watcher]struct{}) {
		for w := range set {
			if _, seen := offered[w]; seen {
				continue
			}
			offered[w] = struct{}{}
			if ev, ok := w.translate(ch); ok {
				c.pushLocked(w, ev)
			}
		}
	}
	// Plain watchers are filed by the prefix they watch: the resource's,
	// a namespace's, or one key.
	key := ch.key()
	offer(c.plain[c.cfg.Prefix])
	if i := strings.LastIndexByte(key, '/'); i >= 0 && key[:i+1] != c.cfg.Prefix {
		offer(c.plain[key[:i+1]])
	}
	offer(c.plain[key])
	for _, o := range []*Object{ch.obj, ch.prev} {
		if o == nil {
			continue
		}
		for k, v := range o.Labels {
			if set := c.byLabel[labelKey(k, v)]; set != nil {
				offer(set)
			}
		}
		for f, byValue := range c.byField {
			if v, ok := o.field(f); ok {
				offer(byValue[v])
			}
		}
	}
}

// plainKey is where a watcher that pins nothing is filed.
func (s Selection) plainKey() string {
	if s.Key != "" {
		return s.Key
	}
	return s.Prefix
}

func (ch change) key() string {
	if ch.obj != nil {
		return ch.obj.Key
	}
	return ch.prev.Key
}

// pushLocked queues an event for a watcher, ending it when it is too far
// behind.
func (c *Cache) pushLocked(w *Watcher, ev Event) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	if len(w.queue) >= c.cfg.MaxQueue {
		w.mu.Unlock()
		c.endLocked(w, ErrTooSlow)
		return
	}
	w.queue = append(w.queue, ev)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// sendBookmarks gives every watcher that allows bookmarks the cache's
// revision.
func (c *Cache) sendBookmarks() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for w := range c.bookmarks {
		c.pushLocked(w, Event{Type: Bookmark, Revision: c.rev})
	}
}

// translate is a change as the watcher's selection sees it: an object that
// starts matching is ADDED, one that stops matching is DELETED.
func (w *Watcher) translate(ch change) (Event, bool) {
	now, was := w.sel.Matches(ch.obj), w.sel.Matches(ch.prev)
	switch {
	case ch.obj == nil && was:
		return Event{Type: Deleted, Object: ch.prev, Revision: ch.rev}, true
	case now && was:
		return Event{Type: Modified, Object: ch.obj, Revision: ch.rev}, true
	case now:
		return Event{Type: Added, Object: ch.obj, Revision: ch.rev}, true
	case was:
		return Event{Type: Deleted, Object: ch.obj, Revision: ch.rev}, true
	}
	return Event{}, false
}

// Next returns the watcher's next event, blocking until there is one. ok
// is false when the watch has ended (Err says why; nil when stopped).
func (w *Watcher) Next(ctx context.Context) (Event, bool) {
	w.mu.Lock()
	done := w.done
	w.mu.Unlock()
	if done {
		return Event{}, false
	}
	if ev, ok := w.nextInitial(); ok {
		return ev, true
	}
	for {
		w.mu.Lock()
		if w.done {
			w.mu.Unlock()
			return Event{}, false
		}
		if len(w.queue) > 0 {
			ev := w.queue[0]
			w.queue[0] = Event{}
			w.queue = w.queue[1:]
			if len(w.queue) == 0 {
				w.queue = nil
			}
			w.mu.Unlock()
			return ev, true
		}
		w.mu.Unlock()
		select {
		case <-w.signal:
		case <-ctx.Done():
			return Event{}, false
		}
	}
}

// nextInitial hands out the initial state, then the end bookmark. A
// snapshot is read a batch at a time, after the last key handed out.
func (w *Watcher) nextInitial() (Event, bool) {
	for {
		if w.pos < len(w.initial) {
			o := w.initial[w.pos]
			w.initial[w.pos] = nil
			w.pos++
			return Event{Type: Added, Object: o, Revision: o.Revision}, true
		}
		if w.initTree == nil {
			break
		}
		w.initial, w.pos = w.initial[:0], 0
		if w.next == "" {
			w.next = w.sel.Prefix
		}
		prefix := w.sel.Prefix
		w.initTree.AscendGreaterOrEqual(&Object{Key: w.next}, func(o *Object) bool {
			if !strings.HasPrefix(o.Key, prefix) {
				return false
			}
			w.next = o.Key + "\x00"
			if w.sel.Matches(o) {
				w.initial = append(w.initial, o)
			}
			return len(w.initial) < 1000
		})
		if len(w.initial) == 0 {
			w.initTree, w.initial = nil, nil
		}
	}
	if w.initialEnd {
		w.initialEnd = false
		return Event{Type: InitialEventsEnd, Revision: w.startRev}, true
	}
	return Event{}, false
}

// Stop ends the watch.
func (w *Watcher) Stop() {
	w.c.mu.Lock()
	w.c.endLocked(w, nil)
	w.c.mu.Unlock()
}

// Err is why the watch ended: ErrTooSlow, nil when stopped or when the
// cache relisted.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
