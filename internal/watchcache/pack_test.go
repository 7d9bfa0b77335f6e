package watchcache

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// podLike is a value that repeats its siblings as pods do: labels and
// fields first (for testAttrs), then a body with the same field names and
// a few values of its own.
func podLike(app string, i int) string {
	return fmt.Sprintf("app=%s|spec.nodeName=n%d|", app, i%7) + strings.Repeat(
		fmt.Sprintf(`{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"%s\"}":{"f:image":{}}}},"f:status":{"f:podIP":"10.0.%d.%d"}}`, app, i/250, i%250), 3)
}

// valuesOf reads every object of a list.
func valuesOf(t *testing.T, c *Cache) map[string]string {
	t.Helper()
	res, err := c.List(context.Background(), ListOptions{Selection: Selection{Prefix: prefix}})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range res.Items {
		v, err := o.Value()
		if err != nil {
			t.Fatalf("%s: %v", o.Key, err)
		}
		out[o.Key] = string(v)
	}
	return out
}

func packedCount(t *testing.T, c *Cache) int {
	t.Helper()
	res, err := c.List(context.Background(), ListOptions{Selection: Selection{Prefix: prefix}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range res.Items {
		if o.Packed() {
			n++
		}
	}
	return n
}

// Cold objects are held compressed and read back unchanged; objects
// written after the pass's revision are left as they are; a small cache is
// not compressed at all.
func TestColdObjectsArePacked(t *testing.T) {
	s := newFakeStore()
	want := map[string]string{}
	for i := range 40 {
		key := fmt.Sprintf("%sns%d/p%d", prefix, i%3, i)
		want[key] = podLike([]string{"web", "api"}[i%2], i)
		s.put(key, want[key])
	}
	c := started(t, s, Config{PackAfter: -1, PackMin: 30})
	waitRev(t, c, s)
	cold := c.Revision()
	// Written after the cold revision: stays plain.
	hot := prefix + "ns0/p0"
	want[hot] = podLike("web", 1000)
	s.put(hot, want[hot])
	waitRev(t, c, s)

	st, err := c.pack(0, cold)
	if err != nil {
		t.Fatal(err)
	}
	if st.Objects != 39 {
		t.Errorf("packed %d objects, want the 39 unchanged since the cold revision", st.Objects)
	}
	if st.After*4 > st.Before {
		t.Errorf("%d bytes packed to %d: want at least 4x smaller", st.Before, st.After)
	}
	if got := packedCount(t, c); got != 39 {
		t.Errorf("%d objects packed in the cache, want 39", got)
	}
	if o, _ := c.Latest(hot); o.Packed() {
		t.Error("the object written after the cold revision was packed")
	}
	if got := valuesOf(t, c); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Error("packed objects do not read back as they were written")
	}
	// A second pass over the same revisions finds nothing left to pack.
	if st, _ := c.pack(0, cold); st.Objects != 0 {
		t.Errorf("second pass packed %d objects again", st.Objects)
	}
	// A packed object reads back through every path: Value, AppendValue
	// into a used buffer, Size.
	o, _ := c.Latest(prefix + "ns1/p1")
	buf, err := o.AppendValue([]byte("junk"))
	if err != nil || string(buf) != "junk"+want[o.Key] || o.Size() != len(want[o.Key]) {
		t.Errorf("AppendValue %q, %v; Size %d", buf, err, o.Size())
	}

	small := started(t, newFakeStore(), Config{PackAfter: -1})
	if st, _ := small.pack(0, small.Revision()); st.Objects != 0 || !st.Idle {
		t.Errorf("a cache under PackMin packed %d objects (idle %v)", st.Objects, st.Idle)
	}
	if st.Idle {
		t.Error("a cache over PackMin reported idle")
	}
}

// Objects that do not compress stay as they are.
func TestIncompressibleObjectsStayPlain(t *testing.T) {
	s := newFakeStore()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		b := make([]byte, 300)
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		s.put(fmt.Sprintf("%sa/p%d", prefix, i), "|"+string(b))
	}
	c := started(t, s, Config{PackAfter: -1, PackMin: 10})
	st, err := c.pack(0, c.Revision())
	if err != nil {
		t.Fatal(err)
	}
	// The dictionary holds eight of them: those pack to nothing, the
	// other twelve stay.
	if got := packedCount(t, c); got != st.Objects || got > 8 {
		t.Errorf("%d random objects packed (stats %d), want at most the 8 in the dictionary", got, st.Objects)
	}
}

// The window's versions are packed too, and a watch from an old revision
// replays them unchanged, deletions included.
func TestPackedWindowReplays(t *testing.T) {
	s := newFakeStore()
	for i := range 20 {
		s.put(fmt.Sprintf("%sa/p%d", prefix, i), podLike("web", i))
	}
	c := started(t, s, Config{PackAfter: -1, PackMin: 10})
	from := c.Revision()
	var want []string
	for i := range 5 {
		v := podLike("api", 100+i)
		s.put(fmt.Sprintf("%sa/p%d", prefix, i), v)
		want = append(want, v)
	}
	s.del(prefix + "a/p4")
	want = append(want, want[4])
	waitRev(t, c, s)
	if _, err := c.pack(0, c.Revision()); err != nil {
		t.Fatal(err)
	}
	w, err := c.Watch(context.Background(), WatchOptions{Selection: sel(t, "", "", ""), FromRevision: from})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ctx := context.Background()
	for i, v := range want {
		ev, ok := w.Next(ctx)
		if !ok {
			t.Fatalf("watch ended at event %d", i)
		}
		if !ev.Object.Packed() {
			t.Errorf("event %d: the window's object is not packed", i)
		}
		got, err := ev.Object.Value()
		if err != nil || string(got) != v {
			t.Errorf("event %d (%v): %q, %v", i, ev.Type, got, err)
		}
	}
}

// Readers racing a packing pass always read the same bytes (run with
// -race).
func TestReadersRacePacking(t *testing.T) {
	s := newFakeStore()
	want := map[string][]byte{}
	for i := range 200 {
		key := fmt.Sprintf("%sa/p%03d", prefix, i)
		want[key] = []byte(podLike("web", i))
		s.put(key, string(want[key]))
	}
	c := started(t, s, Config{PackAfter: -1, PackMin: 10})
	res, err := c.List(context.Background(), ListOptions{Selection: Selection{Prefix: prefix}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			for range 20 {
				for _, o := range res.Items {
					if v, err := o.Value(); err != nil || !bytes.Equal(v, want[o.Key]) {
						errs <- fmt.Sprintf("%s: read %d bytes, %v", o.Key, len(v), err)
						return
					}
				}
			}
		})
	}
	if _, err := c.pack(0, c.Revision()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if packedCount(t, c) != 200 {
		t.Error("not every object was packed")
	}
}
