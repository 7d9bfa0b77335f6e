package integration

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/tools/cache"
)

func mkNamespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(ctxT(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func simplePod(name, node string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
}

// Two servers on one etcd, each with its own watch cache: what one writes,
// the other's next list (resourceVersion unset) shows, as KEP-2340's
// consistent reads from cache promise.
func TestConsistentReadsAcrossServers(t *testing.T) {
	a := startServer(t, serverOpts{})
	b := startServer(t, serverOpts{etcdOf: a})
	ca, cb := a.client(false), b.client(true)
	ctx := ctxT(t)
	mkNamespace(t, ca, "rw")
	for i := range 30 {
		name := fmt.Sprintf("cm-%d", i)
		if _, err := ca.CoreV1().ConfigMaps("rw").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		l, err := cb.CoreV1().ConfigMaps("rw").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != 1 {
			t.Fatalf("server b's list after server a's create %d: %d items", i, len(l.Items))
		}
		// And its own writes, on the server it wrote to.
		if err := ca.CoreV1().ConfigMaps("rw").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		l, err = ca.CoreV1().ConfigMaps("rw").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, cm := range l.Items {
			if cm.Name == name {
				t.Fatalf("a deleted ConfigMap is still listed by the server that deleted it")
			}
		}
	}
}

// resourceVersion rules of lists served from the cache.
func TestListResourceVersionRules(t *testing.T) {
	s := sharedServer(t)
	c := s.client(false)
	ctx := ctxT(t)
	mkNamespace(t, c, "rvrules")
	var last *corev1.ConfigMap
	for i := range 7 {
		cm, err := c.CoreV1().ConfigMaps("rvrules").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("cm-%d", i)}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last = cm
	}
	rv, _ := strconv.ParseInt(last.ResourceVersion, 10, 64)
	t.Run("any (0) and not older than", func(t *testing.T) {
		for _, o := range []metav1.ListOptions{{ResourceVersion: "0"}, {ResourceVersion: last.ResourceVersion}, {ResourceVersion: last.ResourceVersion, ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan}} {
			l, err := c.CoreV1().ConfigMaps("rvrules").List(ctx, o)
			if err != nil {
				t.Fatalf("%+v: %v", o, err)
			}
			got, _ := strconv.ParseInt(l.ResourceVersion, 10, 64)
			if len(l.Items) != 7 || got < rv {
				t.Errorf("%+v: %d items at %d, want 7 at ≥ %d", o, len(l.Items), got, rv)
			}
		}
	})
	t.Run("a future resourceVersion times out as too large", func(t *testing.T) {
		_, err := c.CoreV1().ConfigMaps("rvrules").List(ctx, metav1.ListOptions{ResourceVersion: strconv.FormatInt(rv+1000000, 10)})
		if !apierrors.IsTimeout(err) || !apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) {
			t.Errorf("got %v, want a 504 with a ResourceVersionTooLarge cause", err)
		}
	})
	t.Run("exact, at an older revision", func(t *testing.T) {
		l, err := c.CoreV1().ConfigMaps("rvrules").List(ctx, metav1.ListOptions{ResourceVersion: strconv.FormatInt(rv-1, 10), ResourceVersionMatch: metav1.ResourceVersionMatchExact})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) != 6 || l.ResourceVersion != strconv.FormatInt(rv-1, 10) {
			t.Errorf("exact %d: %d items at %s, want 6", rv-1, len(l.Items), l.ResourceVersion)
		}
	})
	t.Run("pages from one snapshot", func(t *testing.T) {
		first, err := c.CoreV1().ConfigMaps("rvrules").List(ctx, metav1.ListOptions{Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(first.Items) != 3 || first.Continue == "" || first.RemainingItemCount == nil || *first.RemainingItemCount != 4 {
			t.Fatalf("first page: %d items, continue %q, remaining %v", len(first.Items), first.Continue, first.RemainingItemCount)
		}
		// Changed after the first page: the later pages do not show it.
		if _, err := c.CoreV1().ConfigMaps("rvrules").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm-9"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.CoreV1().ConfigMaps("rvrules").Delete(ctx, "cm-5", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		var names []string
		for cont := first.Continue; cont != ""; {
			l, err := c.CoreV1().ConfigMaps("rvrules").List(ctx, metav1.ListOptions{Limit: 3, Continue: cont})
			if err != nil {
				t.Fatal(err)
			}
			if l.ResourceVersion != first.ResourceVersion {
				t.Errorf("page at %s, first at %s", l.ResourceVersion, first.ResourceVersion)
			}
			for _, cm := range l.Items {
				names = append(names, cm.Name)
			}
			cont = l.Continue
		}
		if fmt.Sprint(names) != "[cm-3 cm-4 cm-5 cm-6]" {
			t.Errorf("later pages %v, want the snapshot's [cm-3 cm-4 cm-5 cm-6]", names)
		}
	})
}

// Selector lists and watches through the indexes, as agents and
// controllers use them, in both encodings.
func TestSelectorsFromTheCache(t *testing.T) {
	s := sharedServer(t)
	ctx := ctxT(t)
	for _, json := range []bool{false, true} {
		c := s.client(json)
		ns := fmt.Sprintf("sel-%v", json)
		mkNamespace(t, c, ns)
		for i := range 12 {
			if _, err := c.CoreV1().Pods(ns).Create(ctx, simplePod(fmt.Sprintf("p%d", i), fmt.Sprintf("n%d", i%3), map[string]string{"app": fmt.Sprintf("a%d", i%4)}), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, tc := range []struct{ labels, fields string }{
			{"app=a1", ""}, {"", "spec.nodeName=n2"}, {"app=a0", "spec.nodeName=n0"}, {"app in (a1,a2)", ""}, {"app!=a1", "spec.nodeName!=n1"},
		} {
			l, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: tc.labels, FieldSelector: tc.fields})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for i := range 12 {
				app, node := fmt.Sprintf("a%d", i%4), fmt.Sprintf("n%d", i%3)
				okL := map[string]bool{"": true, "app=a1": app == "a1", "app=a0": app == "a0", "app in (a1,a2)": app == "a1" || app == "a2", "app!=a1": app != "a1"}[tc.labels]
				okF := map[string]bool{"": true, "spec.nodeName=n2": node == "n2", "spec.nodeName=n0": node == "n0", "spec.nodeName!=n1": node != "n1"}[tc.fields]
				if okL && okF {
					want = append(want, fmt.Sprintf("p%d", i))
				}
			}
			got := map[string]bool{}
			for _, p := range l.Items {
				got[p.Name] = true
			}
			if len(got) != len(want) {
				t.Errorf("json=%v %q %q: got %d pods, want %v", json, tc.labels, tc.fields, len(got), want)
			}
			for _, w := range want {
				if !got[w] {
					t.Errorf("json=%v %q %q: %s missing", json, tc.labels, tc.fields, w)
				}
			}
		}
		// A node's watch sees a pod bound to it and no other.
		w, err := c.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", "n-watch-"+ns).String(), ResourceVersion: "0"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CoreV1().Pods(ns).Create(ctx, simplePod("elsewhere", "n0", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.CoreV1().Pods(ns).Create(ctx, simplePod("mine", "n-watch-"+ns, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case ev := <-w.ResultChan():
			if p, ok := ev.Object.(*corev1.Pod); !ok || ev.Type != watch.Added || p.Name != "mine" {
				t.Errorf("json=%v: node watch got %v %T", json, ev.Type, ev.Object)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("json=%v: the node's watch saw nothing", json)
		}
		w.Stop()
	}
}

// An informer that starts with WatchList (sendInitialEvents, client-go's
// default) and one that lists first both see every change exactly once,
// from the cache.
func TestInformersFromTheCache(t *testing.T) {
	s := sharedServer(t)
	c := s.client(false)
	ctx := ctxT(t)
	mkNamespace(t, c, "informed")
	for i := range 50 {
		if _, err := c.CoreV1().ConfigMaps("informed").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pre-%d", i)}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	type counts struct {
		sync.Mutex
		adds, updates, deletes map[string]int
	}
	var all []*counts
	for range 2 {
		f := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace("informed"))
		inf := f.Core().V1().ConfigMaps().Informer()
		n := &counts{adds: map[string]int{}, updates: map[string]int{}, deletes: map[string]int{}}
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: func(o any) { n.Lock(); n.adds[o.(*corev1.ConfigMap).Name]++; n.Unlock() },
			UpdateFunc: func(old, o any) {
				if old.(*corev1.ConfigMap).ResourceVersion != o.(*corev1.ConfigMap).ResourceVersion {
					n.Lock()
					n.updates[o.(*corev1.ConfigMap).Name]++
					n.Unlock()
				}
			},
			DeleteFunc: func(o any) {
				if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
					o = d.Obj
				}
				n.Lock()
				n.deletes[o.(*corev1.ConfigMap).Name]++
				n.Unlock()
			},
		})
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		f.Start(fctx.Done())
		if !cache.WaitForCacheSync(fctx.Done(), inf.HasSynced) {
			t.Fatal("informer did not sync")
		}
		all = append(all, n)
	}
	for i := range 50 {
		name := fmt.Sprintf("pre-%d", i)
		switch i % 3 {
		case 0:
			if err := c.CoreV1().ConfigMaps("informed").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		case 1:
			if _, err := c.CoreV1().ConfigMaps("informed").Update(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": "2"}}, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		default:
			if _, err := c.CoreV1().ConfigMaps("informed").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("new-%d", i)}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k, n := range all {
		eventually(t, 10*time.Second, func() error {
			n.Lock()
			defer n.Unlock()
			if len(n.adds) != 66 || len(n.updates) != 17 || len(n.deletes) != 17 {
				return fmt.Errorf("informer %d: %d added, %d updated, %d deleted; want 66, 17, 17", k, len(n.adds), len(n.updates), len(n.deletes))
			}
			return nil
		})
		n.Lock()
		for name, m := range map[string]map[string]int{"add": n.adds, "update": n.updates, "delete": n.deletes} {
			for obj, times := range m {
				if times != 1 {
					t.Errorf("informer %d: %s of %s seen %d times", k, name, obj, times)
				}
			}
		}
		n.Unlock()
	}
}

// WatchList from a resourceVersion the cache has not reached fails as too
// large; a watch from an old revision still in etcd's history (older than
// the window) is served from etcd.
func TestWatchResourceVersions(t *testing.T) {
	s := sharedServer(t)
	c := s.client(false)
	ctx := ctxT(t)
	mkNamespace(t, c, "wrv")
	first, err := c.CoreV1().ConfigMaps("wrv").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ConfigMaps("wrv").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := c.CoreV1().ConfigMaps("wrv").Watch(ctx, metav1.ListOptions{ResourceVersion: first.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	select {
	case ev := <-w.ResultChan():
		if cm, ok := ev.Object.(*corev1.ConfigMap); !ok || ev.Type != watch.Added || cm.Name != "b" {
			t.Errorf("from %s: got %v %T, want b ADDED", first.ResourceVersion, ev.Type, ev.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a watch from a revision replayed nothing")
	}
	rv, _ := strconv.ParseInt(first.ResourceVersion, 10, 64)
	send := true
	_, err = c.CoreV1().ConfigMaps("wrv").Watch(ctx, metav1.ListOptions{ResourceVersion: strconv.FormatInt(rv+1000000, 10),
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan, SendInitialEvents: &send, AllowWatchBookmarks: true})
	if !apierrors.IsTimeout(err) || !apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) {
		t.Errorf("WatchList from the future: %v, want a 504 with a ResourceVersionTooLarge cause", err)
	}
}

// The metadata client (the garbage collector's) reads PartialObjectMetadata
// in protobuf, lists and watches, cut from the cache's stored bytes.
func TestMetadataClientInProtobuf(t *testing.T) {
	s := sharedServer(t)
	c := s.client(false)
	ctx := ctxT(t)
	mkNamespace(t, c, "meta")
	if _, err := c.CoreV1().Pods("meta").Create(ctx, simplePod("p1", "n1", map[string]string{"app": "x"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mc, err := metadata.NewForConfig(s.restConfig(false))
	if err != nil {
		t.Fatal(err)
	}
	pods := mc.Resource(corev1.SchemeGroupVersion.WithResource("pods")).Namespace("meta")
	l, err := pods.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 || l.Items[0].Name != "p1" || l.Items[0].Labels["app"] != "x" || l.Items[0].ResourceVersion == "" || l.ResourceVersion == "" {
		t.Fatalf("list %+v", l)
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	created, err := c.CoreV1().Pods("meta").Create(ctx, simplePod("p2", "n1", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		m, ok := ev.Object.(*metav1.PartialObjectMetadata)
		if !ok || ev.Type != watch.Added || m.Name != "p2" || m.UID != created.UID || m.ResourceVersion != created.ResourceVersion {
			t.Fatalf("got %v %#v", ev.Type, ev.Object)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the metadata watch saw nothing")
	}
}
