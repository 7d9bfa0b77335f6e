package watchcache

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

const prefix = "/registry/pods/"

// started runs a cache over the store until the test ends and waits until
// it has listed.
func started(t *testing.T, s *fakeStore, cfg Config) *Cache {
	t.Helper()
	cfg.Store, cfg.Prefix, cfg.Attrs = s, prefix, testAttrs
	cfg.IndexFields = []string{"spec.nodeName"}
	c := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if _, err := c.List(ctx2, ListOptions{Selection: Selection{Prefix: prefix}}); err != nil {
		for errors.Is(err, ErrNotReady) && ctx2.Err() == nil {
			time.Sleep(time.Millisecond)
			_, err = c.List(ctx2, ListOptions{Selection: Selection{Prefix: prefix}})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func keys(objs []*Object) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o.Key[len(prefix):])
	}
	return out
}

func sel(t *testing.T, ns, l, f string) Selection {
	t.Helper()
	s := Selection{Prefix: prefix}
	if ns != "" {
		s.Prefix += ns + "/"
	}
	if l != "" {
		ls, err := labels.Parse(l)
		if err != nil {
			t.Fatal(err)
		}
		s.Labels = ls
	}
	if f != "" {
		fs, err := fields.ParseSelector(f)
		if err != nil {
			t.Fatal(err)
		}
		s.Fields = fs
	}
	return s
}

func fixture(s *fakeStore) {
	s.put(prefix+"a/p1", "app=web,tier=fe|spec.nodeName=n1")
	s.put(prefix+"a/p2", "app=web,tier=be|spec.nodeName=n2")
	s.put(prefix+"a/p3", "app=db|spec.nodeName=n1")
	s.put(prefix+"b/p1", "app=web|spec.nodeName=")
	s.put(prefix+"b/p4", "app=db|spec.nodeName=n2")
	s.put("/registry/services/a/s1", "app=web|") // another prefix
}

func TestListSelections(t *testing.T) {
	s := newFakeStore()
	fixture(s)
	c := started(t, s, Config{})
	for _, tc := range []struct {
		name, ns, labels, fields string
		want                     []string
	}{
		{"everything", "", "", "", []string{"a/p1", "a/p2", "a/p3", "b/p1", "b/p4"}},
		{"a namespace", "a", "", "", []string{"a/p1", "a/p2", "a/p3"}},
		{"a label, indexed", "", "app=web", "", []string{"a/p1", "a/p2", "b/p1"}},
		{"a label in a namespace", "b", "app=web", "", []string{"b/p1"}},
		{"two labels", "", "app=web,tier=be", "", []string{"a/p2"}},
		{"a set", "", "app in (db)", "", []string{"a/p3", "b/p4"}},
		{"not equal (scan)", "", "app!=web", "", []string{"a/p3", "b/p4"}},
		{"exists (scan)", "", "tier", "", []string{"a/p1", "a/p2"}},
		{"an indexed field", "", "", "spec.nodeName=n1", []string{"a/p1", "a/p3"}},
		{"an empty indexed field", "", "", "spec.nodeName=", []string{"b/p1"}},
		{"field and label", "", "app=db", "spec.nodeName=n2", []string{"b/p4"}},
		{"field not equal (scan)", "a", "", "spec.nodeName!=n1", []string{"a/p2"}},
		{"no match", "", "app=none", "", []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.List(context.Background(), ListOptions{Selection: sel(t, tc.ns, tc.labels, tc.fields)})
			if err != nil {
				t.Fatal(err)
			}
			if got := keys(res.Items); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
			if res.Revision != 7 {
				t.Errorf("revision %d, want 7 (the store's)", res.Revision)
			}
		})
	}
	t.Run("one key", func(t *testing.T) {
		res, err := c.List(context.Background(), ListOptions{Selection: Selection{Prefix: prefix + "a/", Key: prefix + "a/p2"}})
		if err != nil || fmt.Sprint(keys(res.Items)) != "[a/p2]" {
			t.Fatalf("%v %v", keys(res.Items), err)
		}
	})
	if n := s.lists; n != 1 {
		t.Errorf("the store was listed %d times, want once (by the cache)", n)
	}
}

// Pages of a paginated list come from one snapshot: writes between pages
// do not show, and the remaining count is the snapshot's.
func TestPaginationReadsOneSnapshot(t *testing.T) {
	s := newFakeStore()
	for i := range 10 {
		s.put(fmt.Sprintf("%sa/p%02d", prefix, i), fmt.Sprintf("app=web,n=%d|spec.nodeName=n1", i))
	}
	c := started(t, s, Config{})
	for _, tc := range []struct {
		name   string
		sel    Selection
		remain bool
	}{
		{"everything", sel(t, "", "", ""), true},
		{"by index", sel(t, "", "app=web", ""), false},
		{"by scan", sel(t, "", "n!=99", ""), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first, err := c.List(context.Background(), ListOptions{Selection: tc.sel, Limit: 4})
			if err != nil {
				t.Fatal(err)
			}
			if got := keys(first.Items); fmt.Sprint(got) != "[a/p00 a/p01 a/p02 a/p03]" {
				t.Fatalf("first page %v", got)
			}
			if tc.remain && first.Remaining != 6 {
				t.Errorf("remaining %d, want 6", first.Remaining)
			}
			if !tc.remain && first.Remaining != -1 {
				t.Errorf("remaining %d for a selection, want none", first.Remaining)
			}
			// Changes after the first page: not in the next pages.
			s.put(prefix+"a/p05", "app=other|")
			s.del(prefix + "a/p06")
			waitRev(t, c, s)
			var all []string
			next := first.Next
			for next != "" {
				page, err := c.List(context.Background(), ListOptions{Selection: tc.sel, Limit: 4, Snapshot: first.Revision, StartKey: next})
				if err != nil {
					t.Fatal(err)
				}
				if page.Revision != first.Revision {
					t.Fatalf("page at %d, want %d", page.Revision, first.Revision)
				}
				all = append(all, keys(page.Items)...)
				next = page.Next
			}
			want := "[a/p04 a/p05 a/p06 a/p07 a/p08 a/p09]"
			if fmt.Sprint(all) != want {
				t.Errorf("later pages %v, want %v", all, want)
			}
			// Restore for the next case.
			s.put(prefix+"a/p05", "app=web,n=5|spec.nodeName=n1")
			s.put(prefix+"a/p06", "app=web,n=6|spec.nodeName=n1")
			waitRev(t, c, s)
		})
	}
	if _, err := c.List(context.Background(), ListOptions{Selection: sel(t, "", "", ""), Snapshot: 3, StartKey: prefix}); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("a revision without a snapshot: %v, want ErrNoSnapshot", err)
	}
}

func waitRev(t *testing.T, c *Cache, s *fakeStore) {
	t.Helper()
	rev, _ := s.CurrentRevision(context.Background())
	if err := c.waitFor(context.Background(), rev); err != nil {
		t.Fatal(err)
	}
}

// A consistent read sees every write made before it, even when its prefix
// saw no change since (the cache asks etcd for progress).
func TestConsistentReads(t *testing.T) {
	s := newFakeStore()
	fixture(s)
	c := started(t, s, Config{})
	for i := range 20 {
		key := fmt.Sprintf("%sc/x%d", prefix, i)
		s.put(key, "app=x|")
		res, err := c.List(context.Background(), ListOptions{Selection: Selection{Prefix: prefix, Key: key}, Read: Read{Consistent: true}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 1 {
			t.Fatalf("write %d not seen by the next consistent read", i)
		}
	}
	// Writes elsewhere move etcd's revision; the cache catches up by
	// progress.
	rev := s.put("/registry/services/a/s2", "|")
	res, err := c.List(context.Background(), ListOptions{Selection: sel(t, "", "", ""), Read: Read{Consistent: true}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision < rev {
		t.Errorf("consistent read at %d, etcd at %d", res.Revision, rev)
	}
	// Any revision: served at once.
	res, err = c.List(context.Background(), ListOptions{Selection: sel(t, "", "", "")})
	if err != nil || res.Revision < rev {
		t.Errorf("stale read %d %v", res.Revision, err)
	}
	// A revision not reached: a timeout the API turns into "too large".
	c2 := started(t, s, Config{WaitTimeout: 50 * time.Millisecond})
	if _, err := c2.List(context.Background(), ListOptions{Selection: sel(t, "", "", ""), Read: Read{MinRevision: rev + 100}}); !errors.Is(err, ErrTimeout) {
		t.Errorf("future revision: %v, want ErrTimeout", err)
	}
}

type seen struct {
	typ EventType
	key string
	rev int64
}

func (e seen) String() string {
	return fmt.Sprintf("%s %s@%d", [...]string{"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "END"}[e.typ], e.key, e.rev)
}

// next reads n events from a watcher.
func next(t *testing.T, w *Watcher, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []string
	for range n {
		ev, ok := w.Next(ctx)
		if !ok {
			t.Fatalf("watch ended after %v (%v)", out, w.Err())
		}
		key := ""
		if ev.Object != nil {
			key = ev.Object.Key[len(prefix):]
		}
		out = append(out, seen{ev.Type, key, ev.Revision}.String())
	}
	return out
}

func TestWatchTranslatesThroughSelections(t *testing.T) {
	s := newFakeStore()
	fixture(s)
	c := started(t, s, Config{})
	w, err := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "a", "app=web", "")})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	r1 := s.put(prefix+"a/p3", "app=web|spec.nodeName=n1") // starts matching
	r2 := s.put(prefix+"a/p3", "app=web,x=1|spec.nodeName=n1")
	r3 := s.put(prefix+"a/p1", "app=db|spec.nodeName=n1") // stops matching
	s.put(prefix+"b/p1", "app=web,x=2|")                  // other namespace
	s.put(prefix+"a/p4", "app=db|")                       // never matches
	r4 := s.del(prefix + "a/p2")
	s.del(prefix + "a/p4")
	r5 := s.put(prefix+"a/fence", "app=web|")
	got := next(t, w, 5)
	want := []string{
		fmt.Sprintf("ADDED a/p3@%d", r1), fmt.Sprintf("MODIFIED a/p3@%d", r2), fmt.Sprintf("DELETED a/p1@%d", r3),
		fmt.Sprintf("DELETED a/p2@%d", r4), fmt.Sprintf("ADDED a/fence@%d", r5),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

// A watcher that pins an indexed field is offered only its changes, and
// sees a pod that moves to it or away from it.
func TestIndexedWatchers(t *testing.T) {
	s := newFakeStore()
	fixture(s)
	c := started(t, s, Config{})
	n1, _ := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "", "", "spec.nodeName=n1")})
	all, _ := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "", "", "")})
	web, _ := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "", "app=web", "")})
	defer n1.Stop()
	defer all.Stop()
	defer web.Stop()
	c.mu.RLock()
	if len(c.byField["spec.nodeName"]["n1"]) != 1 || len(c.byLabel["app=web"]) != 1 || len(c.plain[prefix]) != 1 {
		t.Errorf("dispatch sets: field %v label %v plain %v", c.byField, c.byLabel, c.plain)
	}
	c.mu.RUnlock()
	r1 := s.put(prefix+"b/p1", "app=web|spec.nodeName=n1") // bound to n1
	r2 := s.put(prefix+"a/p2", "app=db|spec.nodeName=n2")  // not n1's, leaves web
	r3 := s.del(prefix + "a/p1")
	if got, want := next(t, n1, 2), []string{fmt.Sprintf("ADDED b/p1@%d", r1), fmt.Sprintf("DELETED a/p1@%d", r3)}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("n1 got %v want %v", got, want)
	}
	if got := next(t, all, 3); len(got) != 3 {
		t.Errorf("all got %v", got)
	}
	if got, want := next(t, web, 3), []string{fmt.Sprintf("MODIFIED b/p1@%d", r1), fmt.Sprintf("DELETED a/p2@%d", r2), fmt.Sprintf("DELETED a/p1@%d", r3)}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("web got %v want %v", got, want)
	}
	n1.Stop()
	c.mu.RLock()
	if len(c.byField["spec.nodeName"]) != 0 {
		t.Errorf("a stopped watcher is still filed: %v", c.byField)
	}
	c.mu.RUnlock()
}

func TestWatchFromARevisionReplaysTheWindow(t *testing.T) {
	s := newFakeStore()
	c := started(t, s, Config{Window: 5})
	var revs []int64
	// 12 changes with a window of 5: trimmed to the last 5 at the 10th,
	// so changes 5 to 11 are kept.
	for i := range 12 {
		revs = append(revs, s.put(fmt.Sprintf("%sa/p%d", prefix, i), "|"))
	}
	waitRev(t, c, s)
	w, err := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "", "", ""), FromRevision: revs[8]})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got, want := next(t, w, 3), []string{
		fmt.Sprintf("ADDED a/p9@%d", revs[9]), fmt.Sprintf("ADDED a/p10@%d", revs[10]), fmt.Sprintf("ADDED a/p11@%d", revs[11]),
	}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v want %v", got, want)
	}
	for _, old := range []int{1, 3} {
		if _, err := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "", "", ""), FromRevision: revs[old]}); !errors.Is(err, ErrTooOld) {
			t.Errorf("from change %d, before the window: %v, want ErrTooOld", old, err)
		}
	}
	// From the change before the first kept one: every kept change.
	w2, err := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "", "", ""), FromRevision: revs[4]})
	if err != nil {
		t.Fatalf("from the window's start: %v", err)
	}
	defer w2.Stop()
	if got := next(t, w2, 7); got[0] != fmt.Sprintf("ADDED a/p5@%d", revs[5]) || got[6] != fmt.Sprintf("ADDED a/p11@%d", revs[11]) {
		t.Errorf("got %v", got)
	}
}

func TestInitialEventsThenChanges(t *testing.T) {
	s := newFakeStore()
	for i := range 2500 { // more than one batch of the snapshot
		s.put(fmt.Sprintf("%sa/p%04d", prefix, i), "app=web|")
	}
	s.put(prefix+"b/q", "app=web|")
	c := started(t, s, Config{})
	for _, tc := range []struct {
		name string
		sel  Selection
		n    int
	}{
		{"a namespace from a snapshot", sel(t, "a", "", ""), 2500},
		{"by index", sel(t, "a", "app=web", ""), 2500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := c.Watch(context.Background(), WatchOptions{Selection: tc.sel, Initial: true, InitialEnd: true, Read: Read{Consistent: true}})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			start := w.StartRevision()
			// A change while the initial events are read comes after them.
			rev := s.put(prefix+"a/p0000", "app=web,v=2|")
			got := next(t, w, tc.n+2)
			if got[0][:len("ADDED a/p0000@")] != "ADDED a/p0000@" || got[tc.n-1][:12] != "ADDED a/p249" {
				t.Errorf("initial events %v … %v", got[0], got[tc.n-1])
			}
			if got[tc.n] != fmt.Sprintf("END @%d", start) {
				t.Errorf("after the initial events: %s, want END @%d", got[tc.n], start)
			}
			if got[tc.n+1] != fmt.Sprintf("MODIFIED a/p0000@%d", rev) {
				t.Errorf("then %s", got[tc.n+1])
			}
		})
	}
}

func TestSlowWatcherIsEnded(t *testing.T) {
	s := newFakeStore()
	c := started(t, s, Config{MaxQueue: 10})
	slow, _ := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "", "", "")})
	fast, _ := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "", "", "")})
	defer fast.Stop()
	for i := range 11 {
		s.put(fmt.Sprintf("%sa/p%d", prefix, i), "|")
		next(t, fast, 1)
	}
	if _, ok := slow.Next(context.Background()); ok {
		t.Fatal("a watcher 11 events behind with a queue of 10 was not ended")
	}
	if !errors.Is(slow.Err(), ErrTooSlow) {
		t.Errorf("err %v, want ErrTooSlow", slow.Err())
	}
}

// When the etcd watch fails, watchers end and the cache lists again; what
// changed meanwhile is there.
func TestRelistAfterTheWatchFails(t *testing.T) {
	s := newFakeStore()
	fixture(s)
	c := started(t, s, Config{})
	w, _ := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "", "", "")})
	s.breakWatches()
	if _, ok := w.Next(context.Background()); ok {
		t.Fatal("a watcher outlived the cache's watch")
	}
	if w.Err() != nil {
		t.Errorf("err %v: a relist ends watchers without blame", w.Err())
	}
	s.put(prefix+"z/new", "|")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		res, err := c.List(ctx, ListOptions{Selection: sel(t, "z", "", ""), Read: Read{Consistent: true}})
		if err == nil && len(res.Items) == 1 {
			break
		}
		if err != nil && !errors.Is(err, ErrNotReady) {
			t.Fatal(err)
		}
		if ctx.Err() != nil {
			t.Fatal("the cache did not come back")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBookmarks(t *testing.T) {
	s := newFakeStore()
	c := started(t, s, Config{BookmarkInterval: 20 * time.Millisecond})
	w, _ := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "", "", ""), Bookmarks: true})
	defer w.Stop()
	quiet, _ := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "", "", "")})
	defer quiet.Stop()
	rev := s.put("/registry/services/a/s", "|") // elsewhere: moves etcd on
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		ev, ok := w.Next(ctx)
		if !ok {
			t.Fatal("no bookmark at the new revision")
		}
		if ev.Type != Bookmark {
			t.Fatalf("unexpected %v", ev)
		}
		if ev.Revision >= rev {
			break
		}
	}
	fence := s.put(prefix+"a/fence", "|")
	if got := next(t, quiet, 1); got[0] != fmt.Sprintf("ADDED a/fence@%d", fence) {
		t.Errorf("a watcher without bookmarks got %v", got)
	}
}

func TestUndecodableObjectsAreSkipped(t *testing.T) {
	s := newFakeStore()
	s.put(prefix+"a/bad", "!x|")
	s.put(prefix+"a/good", "|")
	c := started(t, s, Config{})
	res, _ := c.List(context.Background(), ListOptions{Selection: sel(t, "", "", "")})
	if fmt.Sprint(keys(res.Items)) != "[a/good]" {
		t.Errorf("got %v", keys(res.Items))
	}
}

func TestFieldsPacking(t *testing.T) {
	names := []string{"metadata.name", "spec.nodeName", "status.phase"}
	f := NewFields(names, fields.Set{"spec.nodeName": "n1", "metadata.name": "p", "other": "x"})
	for _, tc := range []struct {
		name, want string
		has        bool
	}{
		{"metadata.name", "p", true}, {"spec.nodeName", "n1", true}, {"status.phase", "", true}, {"other", "", false}, {"a", "", false}, {"z", "", false},
	} {
		if f.Has(tc.name) != tc.has || f.Get(tc.name) != tc.want {
			t.Errorf("%s: has %v get %q, want %v %q", tc.name, f.Has(tc.name), f.Get(tc.name), tc.has, tc.want)
		}
	}
	sel := fields.ParseSelectorOrDie("spec.nodeName=n1,status.phase!=Running")
	if !sel.Matches(f) {
		t.Error("a selector does not match the packed fields")
	}
}
