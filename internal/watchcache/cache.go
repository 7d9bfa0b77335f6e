// Package watchcache keeps one resource's objects in memory, fed by a single
// etcd watch, as kube-apiserver's watch cache does: lists and watches are
// answered from it instead of reading and decoding the whole prefix from
// etcd, and every API watcher shares the one etcd watch.
//
// The cache holds each object's stored bytes (never a decoded copy;
// compressed once the object has stopped changing, see pack.go) with
// what selectors need: its labels and selectable fields, read once when the
// object arrives. Labels and the configured fields are indexed, so a
// selector list costs the number of matches, and a watcher that pins a label
// or an indexed field is only offered the events that concern it. A window
// of recent events lets watches start from an older resourceVersion without
// touching etcd; paginated lists are served from copy-on-write snapshots.
//
// Reads follow KEP-2340's consistent reads from cache: a read that must be
// current asks etcd for its revision (one cheap request) and is served once
// the cache has seen every change up to it.
package watchcache

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"

	"github.com/svcnet/svcnet/internal/storage"
)

var (
	// ErrNotReady: the cache has not listed yet (or is relisting after its
	// watch failed); the caller reads etcd instead.
	ErrNotReady = errors.New("watchcache: not ready")
	// ErrTooOld: a watch from a revision older than the window; the caller
	// may watch etcd from it instead.
	ErrTooOld = errors.New("watchcache: revision older than the window")
	// ErrNoSnapshot: no snapshot at a continue token's revision.
	ErrNoSnapshot = errors.New("watchcache: no snapshot at that revision")
	// ErrTimeout: the cache did not reach a revision in time.
	ErrTimeout = errors.New("watchcache: timed out waiting for a revision")
)

// Object is one stored object as the cache holds it. What it holds never
// changes once in the cache (only how: a cold object's bytes are
// compressed in place, see pack.go); callers must not modify it.
type Object struct {
	Key      string
	Revision int64
	Labels   labels.Set
	Fields   fields.Fields
	body     atomic.Pointer[body]
}

// newObject holds value as it is.
func newObject(key string, value []byte, rev int64, l labels.Set, f fields.Fields) *Object {
	o := &Object{Key: key, Revision: rev, Labels: l, Fields: f}
	o.body.Store(&body{b: value})
	return o
}

// Fields is a compact fields.Fields: the values of a resource's selectable
// fields, in the order of a sorted name list its objects share (a map per
// object cost ten times the memory).
type Fields struct {
	Names  []string
	Values []string
}

// NewFields packs a set by a sorted list of the names it may hold.
func NewFields(names []string, set fields.Set) *Fields {
	f := &Fields{Names: names, Values: make([]string, len(names))}
	for i, n := range names {
		f.Values[i] = set[n]
	}
	return f
}

func (f *Fields) lookup(name string) (string, bool) {
	i := sort.SearchStrings(f.Names, name)
	if i < len(f.Names) && f.Names[i] == name {
		return f.Values[i], true
	}
	return "", false
}

// Has reports whether the resource has the field.
func (f *Fields) Has(name string) bool { _, ok := f.lookup(name); return ok }

// Get returns the field's value.
func (f *Fields) Get(name string) string { v, _ := f.lookup(name); return v }

// field reads an indexed field of an object.
func (o *Object) field(name string) (string, bool) {
	if o.Fields == nil || !o.Fields.Has(name) {
		return "", false
	}
	return o.Fields.Get(name), true
}

// EventType says what a watcher sees.
type EventType int

const (
	Added EventType = iota
	Modified
	Deleted
	// Bookmark carries only a revision: every change up to it was sent.
	Bookmark
	// InitialEventsEnd is the bookmark after a watch's initial events.
	InitialEventsEnd
)

// Event is one change as a watcher sees it through its selector. Object is
// the new state (for Deleted, the last state); Revision is the change's.
type Event struct {
	Type     EventType
	Object   *Object
	Revision int64
}

// change is one etcd change. obj is nil for a deletion; in the window, an
// update's prev holds only the key, labels and fields.
type change struct {
	obj, prev *Object
	rev       int64
}

// AttrsFunc reads an object's labels and selectable fields from its stored
// bytes.
type AttrsFunc func(key string, value []byte) (labels.Set, fields.Fields, error)

// Config of one resource's cache.
type Config struct {
	Store  storage.Store
	Prefix string
	Attrs  AttrsFunc
	// IndexFields are the selectable fields answered from an index (for
	// pods, spec.nodeName). Every label is indexed.
	IndexFields []string
	// Window is how many recent changes (at least; up to twice as many)
	// are kept for watches that start from an older revision (default
	// 10,000).
	Window int
	// BookmarkInterval is how often watchers that allow bookmarks get one
	// (default 1 minute, as kube-apiserver).
	BookmarkInterval time.Duration
	// WaitTimeout bounds a wait for a revision (default 3 s, as kube-apiserver).
	WaitTimeout time.Duration
	// MaxQueue is how many events a watcher may have waiting before it is
	// ended as too slow (default 10,000); the client watches again from
	// the last revision it saw.
	MaxQueue int
	// PackAfter: an object left unchanged this long (up to twice) is held
	// compressed (default 30 s; negative never compresses).
	PackAfter time.Duration
	// PackMin: a cache holding fewer objects compresses none (default 512).
	PackMin int
	Log     *slog.Logger
}

// Cache is one resource's watch cache.
type Cache struct {
	cfg Config

	mu    sync.RWMutex
	ready bool
	rev   int64 // every change up to rev has been applied
	tree  *btree.BTreeG[*Object]
	// labelIdx: "key=value" → objects; fieldIdx: field → value → objects.
	labelIdx map[string]map[string]*Object
	fieldIdx map[string]map[string]map[string]*Object
	window   []change // oldest first
	// windowStart: the window holds every change after it.
	windowStart int64
	snapshots   map[int64]snapshot
	revCh       chan struct{} // closed when rev advances
	progress    bool          // a reader waits for etcd's revision

	watchers map[*Watcher]struct{}
	// dispatch sets: watchers that pin nothing, by namespace prefix ("" all),
	// and those that pin a label or an indexed field value.
	plain     map[string]map[*Watcher]struct{}
	byLabel   map[string]map[*Watcher]struct{}
	byField   map[string]map[string]map[*Watcher]struct{}
	bookmarks map[*Watcher]struct{}

	// packMu: one packing pass at a time; codec compresses cold objects
	// (made at the first pass that has any).
	packMu sync.Mutex
	codec  *codec
}

type snapshot struct {
	tree    *btree.BTreeG[*Object]
	created time.Time
}

// snapshotTTL: how long a paginated list's snapshot serves its continue
// tokens (later ones are read from etcd at the same revision).
const snapshotTTL = 75 * time.Second

func byKey(a, b *Object) bool { return a.Key < b.Key }

// New makes a cache; Run fills and feeds it.
func New(cfg Config) *Cache {
	if cfg.Window <= 0 {
		cfg.Window = 10000
	}
	if cfg.BookmarkInterval <= 0 {
		cfg.BookmarkInterval = time.Minute
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = 3 * time.Second
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 10000
	}
	if cfg.PackAfter == 0 {
		cfg.PackAfter = 30 * time.Second
	}
	if cfg.PackMin <= 0 {
		cfg.PackMin = 512
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Cache{
		cfg:       cfg,
		tree:      btree.NewG(32, byKey),
		revCh:     make(chan struct{}),
		snapshots: map[int64]snapshot{},
		watchers:  map[*Watcher]struct{}{},
		plain:     map[string]map[*Watcher]struct{}{},
		byLabel:   map[string]map[*Watcher]struct{}{},
		byField:   map[string]map[string]map[*Watcher]struct{}{},
		bookmarks: map[*Watcher]struct{}{},
	}
}

// Ready reports whether the cache has listed and is following etcd.
func (c *Cache) Ready() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ready
}

// Revision is the revision the cache has reached.
func (c *Cache) Revision() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rev
}

// Latest is the object at key as the cache last saw it, without waiting
// for etcd: possibly stale, so only for a guess a compare-and-swap write
// checks (as kube-apiserver's updates start from the cached object). ok is
// false when the cache is not ready or does not hold the key.
func (c *Cache) Latest(key string) (*Object, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.ready {
		return nil, false
	}
	return c.tree.Get(&Object{Key: key})
}

// Run lists the prefix, then follows it with one etcd watch, relisting
// whenever the watch fails, until ctx ends.
func (c *Cache) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := c.follow(ctx)
		c.reset()
		if ctx.Err() != nil {
			return
		}
		c.cfg.Log.Warn("watch cache relisting", "prefix", c.cfg.Prefix, "err", err)
		if time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// reset drops the state after the watch failed: watchers end (their clients
// watch again, from etcd until the cache is back).
func (c *Cache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready = false
	for w := range c.watchers {
		c.endLocked(w, nil)
	}
	c.window = nil
	c.snapshots = map[int64]snapshot{}
	close(c.revCh)
	c.revCh = make(chan struct{})
}

// follow lists everything at one revision, then applies the watch's
// changes until it fails.
func (c *Cache) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tree := btree.NewG(32, byKey)
	labelIdx := map[string]map[string]*Object{}
	fieldIdx := map[string]map[string]map[string]*Object{}
	var rev int64
	start := ""
	for {
		page, err := c.cfg.Store.List(ctx, c.cfg.Prefix, storage.ListOptions{Revision: rev, Limit: 5000, StartKey: start})
		if err != nil {
			return err
		}
		rev = page.Revision
		for _, kv := range page.Items {
			obj, err := c.object(kv)
			if err != nil {
				c.cfg.Log.Error("watch cache: skipping undecodable object", "key", kv.Key, "err", err)
				continue
			}
			tree.ReplaceOrInsert(obj)
			index(labelIdx, fieldIdx, c.cfg.IndexFields, obj)
		}
		if !page.More || len(page.Items) == 0 {
			break
		}
		start = page.Items[len(page.Items)-1].Key + "\x00"
	}
	w, err := c.cfg.Store.Watch(ctx, c.cfg.Prefix, rev)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.tree, c.labelIdx, c.fieldIdx = tree, labelIdx, fieldIdx
	c.rev, c.windowStart, c.window = rev, rev, nil
	c.ready = true
	c.advanceLocked()
	c.mu.Unlock()
	packed := make(chan struct{})
	go func() { c.packCold(ctx, rev); close(packed) }()
	defer func() { cancel(); <-packed }()

	progress := time.NewTicker(50 * time.Millisecond)
	defer progress.Stop()
	bookmark := time.NewTicker(c.cfg.BookmarkInterval)
	defer bookmark.Stop()
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				if err := w.Err(); err != nil {
					return err
				}
				return ctx.Err()
			}
			c.apply(ev)
		case <-progress.C:
			c.mu.Lock()
			want := c.progress
			c.progress = false
			c.mu.Unlock()
			if want {
				_ = w.RequestProgress(ctx)
			}
		case <-bookmark.C:
			c.sendBookmarks()
			_ = w.RequestProgress(ctx)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Cache) object(kv storage.KV) (*Object, error) {
	l, f, err := c.cfg.Attrs(kv.Key, kv.Value)
	if err != nil {
		return nil, err
	}
	return newObject(kv.Key, kv.Value, kv.ModRevision, l, f), nil
}

// apply takes one etcd change into the cache and hands it to the watchers
// it concerns.
func (c *Cache) apply(ev storage.Event) {
	var obj *Object
	if ev.Type == storage.EventCreate || ev.Type == storage.EventPut {
		var err error
		if obj, err = c.object(ev.KV); err != nil {
			c.cfg.Log.Error("watch cache: skipping undecodable object", "key", ev.KV.Key, "err", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if ev.Type == storage.EventProgress {
		if ev.Revision > c.rev {
			c.rev = ev.Revision
			c.advanceLocked()
		}
		return
	}
	probe := &Object{Key: ev.KV.Key}
	prev, _ := c.tree.Get(probe)
	if obj != nil {
		c.tree.ReplaceOrInsert(obj)
	} else {
		c.tree.Delete(probe)
	}
	if prev != nil {
		unindex(c.labelIdx, c.fieldIdx, c.cfg.IndexFields, prev)
	}
	if obj != nil {
		index(c.labelIdx, c.fieldIdx, c.cfg.IndexFields, obj)
	}
	ch := change{obj: obj, prev: prev, rev: ev.Revision}
	c.dispatchLocked(ch)
	// The window keeps what a later watcher needs: a replaced version's
	// labels and fields (to see it leave or enter a selection), not its
	// bytes; a deleted object whole (its last state is the DELETED event).
	if obj != nil && prev != nil {
		ch.prev = &Object{Key: prev.Key, Revision: prev.Revision, Labels: prev.Labels, Fields: prev.Fields}
	}
	c.window = append(c.window, ch)
	// Trimmed to Window changes once it holds twice that: one copy per
	// Window changes, not one per change.
	if len(c.window) >= 2*c.cfg.Window {
		drop := len(c.window) - c.cfg.Window
		c.windowStart = c.window[drop-1].rev
		c.window = append(make([]change, 0, 2*c.cfg.Window), c.window[drop:]...)
	}
	if ev.Revision > c.rev {
		c.rev = ev.Revision
	}
	c.advanceLocked()
}

// advanceLocked wakes everyone waiting for a revision.
func (c *Cache) advanceLocked() {
	close(c.revCh)
	c.revCh = make(chan struct{})
	for rev, s := range c.snapshots {
		if time.Since(s.created) > snapshotTTL {
			delete(c.snapshots, rev)
		}
	}
}

func labelKey(k, v string) string { return k + "=" + v }

func index(labelIdx map[string]map[string]*Object, fieldIdx map[string]map[string]map[string]*Object, indexFields []string, obj *Object) {
	for k, v := range obj.Labels {
		lk := labelKey(k, v)
		set := labelIdx[lk]
		if set == nil {
			set = map[string]*Object{}
			labelIdx[lk] = set
		}
		set[obj.Key] = obj
	}
	for _, f := range indexFields {
		v, ok := obj.field(f)
		if !ok {
			continue
		}
		byValue := fieldIdx[f]
		if byValue == nil {
			byValue = map[string]map[string]*Object{}
			fieldIdx[f] = byValue
		}
		set := byValue[v]
		if set == nil {
			set = map[string]*Object{}
			byValue[v] = set
		}
		set[obj.Key] = obj
	}
}

func unindex(labelIdx map[string]map[string]*Object, fieldIdx map[string]map[string]map[string]*Object, indexFields []string, obj *Object) {
	for k, v := range obj.Labels {
		lk := labelKey(k, v)
		if set := labelIdx[lk]; set != nil {
			delete(set, obj.Key)
			if len(set) == 0 {
				delete(labelIdx, lk)
			}
		}
	}
	for _, f := range indexFields {
		v, ok := obj.field(f)
		if !ok {
			continue
		}
		if set := fieldIdx[f][v]; set != nil {
			delete(set, obj.Key)
			if len(set) == 0 {
				delete(fieldIdx[f], v)
			}
		}
	}
}

// waitFor blocks until the cache has reached rev (asking etcd for
// progress while it waits), at most the wait timeout.
func (c *Cache) waitFor(ctx context.Context, rev int64) error {
	timer := time.NewTimer(c.cfg.WaitTimeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		if !c.ready {
			c.mu.Unlock()
			return ErrNotReady
		}
		if c.rev >= rev {
			c.mu.Unlock()
			return nil
		}
		c.progress = true
		ch := c.revCh
		c.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return ErrTimeout
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Selection says which objects a list or watch is about.
type Selection struct {
	// Prefix narrows the keys (a namespace's prefix); Key pins one key.
	Prefix string
	Key    string
	Labels labels.Selector
	Fields fields.Selector
}

func (s Selection) everything() bool {
	return (s.Labels == nil || s.Labels.Empty()) && (s.Fields == nil || s.Fields.Empty())
}

// Matches applies the selection to an object.
func (s Selection) Matches(o *Object) bool {
	if o == nil {
		return false
	}
	if s.Key != "" {
		if o.Key != s.Key {
			return false
		}
	} else if !strings.HasPrefix(o.Key, s.Prefix) {
		return false
	}
	if s.Labels != nil && !s.Labels.Empty() && !s.Labels.Matches(o.Labels) {
		return false
	}
	if s.Fields != nil && !s.Fields.Empty() && !s.Fields.Matches(o.Fields) {
		return false
	}
	return true
}

// Read says at which revision a list or a watch's initial state is read.
type Read struct {
	// Consistent: at etcd's current revision (resourceVersion unset).
	Consistent bool
	// MinRevision: at least this revision (resourceVersion N, NotOlderThan);
	// 0 with Consistent false: whatever the cache holds (resourceVersion 0).
	MinRevision int64
}

// ListOptions of a list from the cache.
type ListOptions struct {
	Selection
	Read
	// Snapshot reads a continue token's revision; StartKey is its next key.
	Snapshot int64
	StartKey string
	Limit    int64
}

// ListResult is a page of objects.
type ListResult struct {
	Items    []*Object
	Revision int64
	// Next is the first key of the next page ("" when this is the last).
	Next string
	// Remaining counts the objects after this page when the selection
	// selects everything (-1 otherwise).
	Remaining int64
}

// settle waits as the read asks.
func (c *Cache) settle(ctx context.Context, r Read) error {
	want := r.MinRevision
	if r.Consistent {
		rev, err := c.cfg.Store.CurrentRevision(ctx)
		if err != nil {
			return err
		}
		want = max(want, rev)
	}
	return c.waitFor(ctx, want)
}

// List answers a list from memory.
func (c *Cache) List(ctx context.Context, o ListOptions) (ListResult, error) {
	if o.Snapshot > 0 {
		c.mu.RLock()
		s, ok := c.snapshots[o.Snapshot]
		c.mu.RUnlock()
		if !ok {
			return ListResult{}, ErrNoSnapshot
		}
		return page(s.tree, o, o.Snapshot), nil
	}
	if err := c.settle(ctx, o.Read); err != nil {
		return ListResult{}, err
	}
	c.mu.Lock()
	if !c.ready {
		c.mu.Unlock()
		return ListResult{}, ErrNotReady
	}
	rev := c.rev
	if o.Key != "" {
		obj, _ := c.tree.Get(&Object{Key: o.Key})
		c.mu.Unlock()
		out := ListResult{Revision: rev, Remaining: -1, Items: []*Object{}}
		if o.Matches(obj) && obj.Key >= o.StartKey {
			out.Items = append(out.Items, obj)
		}
		return out, nil
	}
	if cands, ok := c.candidatesLocked(o.Selection); ok {
		// Few enough to read from an index: sort and page them. A
		// continuation is read from a snapshot, as for any list.
		var tree *btree.BTreeG[*Object]
		if o.Limit > 0 && int64(len(cands)) > o.Limit {
			tree = c.tree.Clone()
		}
		items := make([]*Object, 0, len(cands))
		for _, obj := range cands {
			if obj.Key >= o.StartKey && o.Matches(obj) {
				items = append(items, obj)
			}
		}
		c.mu.Unlock()
		sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
		out := ListResult{Items: items, Revision: rev, Remaining: -1}
		if o.Limit > 0 && int64(len(items)) > o.Limit {
			out.Items, out.Next = items[:o.Limit], items[o.Limit].Key
			c.keepSnapshot(rev, tree)
		}
		return out, nil
	}
	tree := c.tree.Clone()
	c.mu.Unlock()
	out := page(tree, o, rev)
	if out.Next != "" {
		c.keepSnapshot(rev, tree)
	}
	return out, nil
}

// keepSnapshot keeps a list's copy-on-write clone of the tree for the
// continue tokens of its pages.
func (c *Cache) keepSnapshot(rev int64, tree *btree.BTreeG[*Object]) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.snapshots[rev]; !ok && len(c.snapshots) < 64 && c.ready {
		c.snapshots[rev] = snapshot{tree: tree, created: time.Now()}
	}
}

// page reads one page of a tree.
func page(tree *btree.BTreeG[*Object], o ListOptions, rev int64) ListResult {
	out := ListResult{Items: []*Object{}, Revision: rev, Remaining: -1}
	from := o.Prefix
	if o.StartKey > from {
		from = o.StartKey
	}
	all := o.everything()
	done := false
	tree.AscendGreaterOrEqual(&Object{Key: from}, func(obj *Object) bool {
		if !strings.HasPrefix(obj.Key, o.Prefix) {
			return false
		}
		if done {
			out.Remaining++
			return true
		}
		if !o.Matches(obj) {
			return true
		}
		if o.Limit > 0 && int64(len(out.Items)) == o.Limit {
			out.Next = obj.Key
			if !all {
				return false
			}
			done, out.Remaining = true, 1
			return true
		}
		out.Items = append(out.Items, obj)
		return true
	})
	return out
}

// candidatesLocked returns the objects an index offers for a selection:
// the smallest set among its pinned labels and indexed fields. ok is false
// when nothing in the selection is indexed.
func (c *Cache) candidatesLocked(s Selection) (map[string]*Object, bool) {
	var best map[string]*Object
	found := false
	consider := func(set map[string]*Object) {
		if !found || len(set) < len(best) {
			best, found = set, true
		}
	}
	if s.Fields != nil {
		for _, f := range c.cfg.IndexFields {
			if v, ok := s.Fields.RequiresExactMatch(f); ok {
				consider(c.fieldIdx[f][v])
			}
		}
	}
	if s.Labels != nil {
		reqs, _ := s.Labels.Requirements()
		for _, r := range reqs {
			switch r.Operator() {
			case selection.Equals, selection.DoubleEquals:
				v, _ := r.Values().PopAny()
				consider(c.labelIdx[labelKey(r.Key(), v)])
			case selection.In:
				if r.Values().Len() == 1 {
					v, _ := r.Values().PopAny()
					consider(c.labelIdx[labelKey(r.Key(), v)])
				}
			}
		}
	}
	return best, found
}
