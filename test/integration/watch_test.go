package integration

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/svcnet/svcnet/internal/pki"
	etcdstore "github.com/svcnet/svcnet/internal/storage/etcd"
)

// observed records what an informer delivered, per object.
type observed struct {
	mu     sync.Mutex
	events map[string][]obsEvent
	// relists counts the same-resourceVersion updates a relist gives for
	// every object it finds unchanged.
	relists int
}

// relisted reports, and forgets, whether the informer relisted.
func (o *observed) relisted() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.relists > 0
	o.relists = 0
	return r
}

type obsEvent struct {
	typ string
	rv  int64
}

func rvOf(obj interface{}) int64 {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return -1
	}
	n, _ := strconv.ParseInt(m.GetResourceVersion(), 10, 64)
	return n
}

func keyOf(kind string, obj interface{}) string {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, _ := meta.Accessor(obj)
	return kind + "/" + m.GetName()
}

func (o *observed) handler(kind string) cache.ResourceEventHandlerFuncs {
	add := func(typ string, obj interface{}) {
		o.mu.Lock()
		defer o.mu.Unlock()
		k := keyOf(kind, obj)
		o.events[k] = append(o.events[k], obsEvent{typ, rvOf(obj)})
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj interface{}) { add("add", obj) },
		UpdateFunc: func(old, obj interface{}) {
			if rvOf(old) == rvOf(obj) {
				o.mu.Lock()
				o.relists++ // a relist that found no change
				o.mu.Unlock()
				return
			}
			add("update", obj)
		},
		DeleteFunc: func(obj interface{}) { add("delete", obj) },
	}
}

func (o *observed) snapshot() map[string][]obsEvent {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string][]obsEvent{}
	for k, v := range o.events {
		out[k] = append([]obsEvent(nil), v...)
	}
	return out
}

// op is one change a test made and the event it must cause.
type op struct {
	key string
	typ string
	rv  int64 // for add and update
}

// churn makes n random creates, updates and deletes of Services and
// EndpointSlices in ns and returns them in order.
func churn(t *testing.T, c kubernetes.Interface, ns string, n int, rnd *rand.Rand, live map[string]bool, prefix string) []op {
	t.Helper()
	ctx := ctxT(t)
	var ops []op
	names := func(kind string) []string {
		var out []string
		for k := range live {
			if k[:len(kind)] == kind {
				out = append(out, k[len(kind)+1:])
			}
		}
		return out
	}
	for i := 0; i < n; i++ {
		kind := "svc"
		if rnd.IntN(2) == 0 {
			kind = "eps"
		}
		existing := names(kind)
		action := rnd.IntN(3)
		if len(existing) < 3 {
			action = 0
		}
		switch action {
		case 0:
			name := fmt.Sprintf("%s-%s-%d", kind, prefix, i)
			var obj runtime.Object
			var err error
			if kind == "svc" {
				obj, err = c.CoreV1().Services(ns).Create(ctx, newService(name, 80), metav1.CreateOptions{})
			} else {
				obj, err = c.DiscoveryV1().EndpointSlices(ns).Create(ctx, newSlice(name, i), metav1.CreateOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			live[kind+"/"+name] = true
			ops = append(ops, op{kind + "/" + name, "add", rvOf(obj)})
		case 1:
			name := existing[rnd.IntN(len(existing))]
			var obj runtime.Object
			var err error
			if kind == "svc" {
				obj, err = c.CoreV1().Services(ns).Patch(ctx, name, "application/merge-patch+json", []byte(fmt.Sprintf(`{"metadata":{"annotations":{"seq":"%d"}}}`, i)), metav1.PatchOptions{})
			} else {
				obj, err = c.DiscoveryV1().EndpointSlices(ns).Patch(ctx, name, "application/merge-patch+json", []byte(fmt.Sprintf(`{"metadata":{"annotations":{"seq":"%d"}}}`, i)), metav1.PatchOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, op{kind + "/" + name, "update", rvOf(obj)})
		default:
			name := existing[rnd.IntN(len(existing))]
			var err error
			if kind == "svc" {
				err = c.CoreV1().Services(ns).Delete(ctx, name, metav1.DeleteOptions{})
			} else {
				err = c.DiscoveryV1().EndpointSlices(ns).Delete(ctx, name, metav1.DeleteOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
			delete(live, kind+"/"+name)
			ops = append(ops, op{kind + "/" + name, "delete", 0})
		}
	}
	return ops
}

func newSlice(name string, i int) *discoveryv1.EndpointSlice {
	ready := true
	port := int32(8080)
	return &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("10.244.%d.%d", i/250, i%250+1)}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Port: &port}},
	}
}

// checkExactlyOnce asserts every op caused exactly one event, in order.
func checkExactlyOnce(t *testing.T, ops []op, seen map[string][]obsEvent) {
	t.Helper()
	pos := map[string]int{}
	for _, o := range ops {
		evs := seen[o.key]
		found := -1
		for i := pos[o.key]; i < len(evs); i++ {
			if evs[i].typ == o.typ && (o.typ == "delete" || evs[i].rv == o.rv) {
				found = i
				break
			}
			if o.typ != "delete" && evs[i].rv >= o.rv {
				break
			}
		}
		if found < 0 {
			t.Fatalf("%s %s rv=%d: not seen in order; saw %v", o.typ, o.key, o.rv, evs)
		}
		pos[o.key] = found + 1
	}
	for k, evs := range seen {
		var last int64
		for i, e := range evs {
			if e.typ != "delete" && e.rv <= last {
				t.Fatalf("%s: event %d (%s rv=%d) not after rv %d: %v", k, i, e.typ, e.rv, last, evs)
			}
			if e.rv > last {
				last = e.rv
			}
		}
	}
}

func TestInformerSeesEveryChangeAcrossRestart(t *testing.T) {
	// The etcd host outlives the server under test, so the test can write
	// while it is down and compact history to force a 410 relist.
	host := startServer(t, serverOpts{})
	srv := startServer(t, serverOpts{etcdOf: host})
	addr := srv.started.APIAddr
	c := srv.client(false)
	ns := testNamespace(t, c)

	seen := &observed{events: map[string][]obsEvent{}}
	factory := informers.NewSharedInformerFactoryWithOptions(c, 0, informers.WithNamespace(ns))
	factory.Core().V1().Services().Informer().AddEventHandler(seen.handler("svc"))
	factory.Discovery().V1().EndpointSlices().Informer().AddEventHandler(seen.handler("eps"))
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	for typ, ok := range factory.WaitForCacheSync(stop) {
		if !ok {
			t.Fatalf("%v did not sync", typ)
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	live := map[string]bool{}
	before := churn(t, c, ns, 400, rnd, live, "a")
	waitSeen(t, seen, before)
	checkExactlyOnce(t, before, seen.snapshot())

	// Restart 1: changes while the server is down are all delivered after
	// it comes back, since the watch resumes from its resourceVersion.
	srv.stop()
	outage := churn(t, host.client(false), ns, 200, rnd, live, "b")
	seen.relisted()
	srv = startServer(t, serverOpts{dataDir: srv.dataDir, etcdOf: host, apiAddr: addr})
	if !waitSeenOrRelist(t, seen, outage) {
		checkExactlyOnce(t, outage, seen.snapshot())
	} else {
		// client-go relisted instead of resuming its watch (seen under the
		// race detector on a loaded machine; the cause is not known): what
		// was created and deleted meanwhile is then never seen, as in any
		// cluster. The caches must still equal the truth (checked at the end).
		t.Logf("the informer relisted after restart 1 instead of resuming its watch")
	}

	// Restart 2: changes and a compaction while it is down; the watch gets
	// 410 Gone and the informer relists.
	srv.stop()
	lost := churn(t, host.client(false), ns, 10, rnd, live, "x")
	pkiDir := filepath.Join(host.dataDir, "pki")
	etcdTLS, err := pki.ClientTLS(filepath.Join(pkiDir, "etcd", "ca.crt"), filepath.Join(pkiDir, "apiserver-etcd-client.crt"), filepath.Join(pkiDir, "apiserver-etcd-client.key"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := etcdstore.New(etcdstore.Config{Endpoints: host.started.EtcdURLs, TLS: etcdTLS}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rev, err := store.CurrentRevision(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Compact(ctxT(t), rev); err != nil {
		t.Fatal(err)
	}
	store.Close()
	srv = startServer(t, serverOpts{dataDir: srv.dataDir, etcdOf: host, apiAddr: addr})
	for _, inf := range []cache.SharedIndexInformer{factory.Core().V1().Services().Informer(), factory.Discovery().V1().EndpointSlices().Informer()} {
		eventually(t, restartWait, func() error {
			if got, _ := strconv.ParseInt(inf.LastSyncResourceVersion(), 10, 64); got < rev {
				return fmt.Errorf("informer at %d, not yet relisted past %d", got, rev)
			}
			return nil
		})
	}
	after := churn(t, c, ns, 390, rnd, live, "c")
	waitSeen(t, seen, after)
	checkExactlyOnce(t, after, seen.snapshot())

	// The informer's caches equal the truth.
	ctx := ctxT(t)
	svcs, _ := c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	slices, _ := c.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
	truth := map[string]string{}
	for _, s := range svcs.Items {
		truth["svc/"+s.Name] = s.ResourceVersion
	}
	for _, s := range slices.Items {
		truth["eps/"+s.Name] = s.ResourceVersion
	}
	cached := map[string]string{}
	for _, o := range factory.Core().V1().Services().Informer().GetStore().List() {
		cached["svc/"+o.(*corev1.Service).Name] = o.(*corev1.Service).ResourceVersion
	}
	for _, o := range factory.Discovery().V1().EndpointSlices().Informer().GetStore().List() {
		cached["eps/"+o.(*discoveryv1.EndpointSlice).Name] = o.(*discoveryv1.EndpointSlice).ResourceVersion
	}
	if len(truth) != len(cached) {
		t.Fatalf("cache has %d objects, API %d", len(cached), len(truth))
	}
	for k, rv := range truth {
		if cached[k] != rv {
			t.Fatalf("%s: cache rv %q, API rv %q", k, cached[k], rv)
		}
	}
	if n := len(before) + len(outage) + len(lost) + len(after); n != 1000 {
		t.Fatalf("made %d changes", n)
	}
}

// waitSeen waits until the last op of each kind has been delivered; the
// informers of different kinds deliver independently.
// restartWait bounds how long an informer may take to follow a restarted
// server. The informer is client-go's own: its reflector backs off up to
// 30s, jittered to 60s, between tries while the server was away (svcnet's
// DNS shortens that; a test of the API must not), and a connection the
// server dropped may take HTTP/2's health check (30s idle, 15s ping) to be
// given up; on a machine loaded by the race detector both were seen to
// stack past 75s.
const restartWait = 150 * time.Second

// waitSeenOrRelist waits as waitSeen does, or until the informer has
// relisted and every op's final state is in its view (a deleted object
// gone or never seen); it reports whether it relisted.
func waitSeenOrRelist(t *testing.T, seen *observed, ops []op) (relisted bool) {
	t.Helper()
	final := map[string]op{}
	for _, o := range ops {
		final[o.key] = o
	}
	eventually(t, restartWait, func() error {
		snap := seen.snapshot()
		missing := 0
		for k, o := range final {
			evs := snap[k]
			var ok bool
			if n := len(evs); n > 0 {
				last := evs[n-1]
				// A relist shows an object made and changed meanwhile as one add.
				ok = o.typ == "delete" && last.typ == "delete" || o.typ != "delete" && last.typ != "delete" && last.rv == o.rv
			}
			if !ok && o.typ == "delete" && len(evs) == 0 && relisted {
				ok = true // created and deleted while the informer relisted
			}
			if !ok {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		relisted = relisted || seen.relisted()
		return fmt.Errorf("%d of %d objects not yet in their final state (relisted: %v)", missing, len(final), relisted)
	})
	return relisted || seen.relisted()
}

func waitSeen(t *testing.T, seen *observed, ops []op) {
	t.Helper()
	last := map[string]op{}
	for _, o := range ops {
		last[o.key[:3]] = o
	}
	for _, o := range last {
		eventually(t, restartWait, func() error {
			for _, e := range seen.snapshot()[o.key] {
				if e.typ == o.typ && (o.typ == "delete" || e.rv == o.rv) {
					return nil
				}
			}
			return fmt.Errorf("last change %s %s not seen yet", o.typ, o.key)
		})
	}
}

func TestTwoServersOneEtcdDistinctClusterIPs(t *testing.T) {
	a := startServer(t, serverOpts{serviceCIDR: "10.96.0.0/22"})
	b := startServer(t, serverOpts{etcdOf: a, serviceCIDR: "10.96.0.0/22"})
	ca, cb := a.client(false), b.client(true)
	ns := testNamespace(t, ca)
	// Each server's watchers see the other's writes.
	w, err := cb.CoreV1().Services(ns).Watch(ctxT(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := ca.CoreV1().Services(ns).Create(ctxT(t), newService("through-a", 80), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-w.ResultChan():
		if ev.Object.(*corev1.Service).Name != "through-a" {
			t.Fatalf("watch through b saw %v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write through a did not reach a watch through b")
	}
	// 500 concurrent creates through both, in a /22 (1022 addresses): every
	// ClusterIP distinct even as random picks collide and retry.
	inParallel(t, 500, 500, func(i int) error {
		c := ca
		if i%2 == 1 {
			c = cb
		}
		_, err := c.CoreV1().Services(ns).Create(context.Background(), newService(fmt.Sprintf("s%d", i), 80), metav1.CreateOptions{})
		return err
	})
	list, err := ca.CoreV1().Services(ns).List(ctxT(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	prefix := netip.MustParsePrefix("10.96.0.0/22")
	for _, s := range list.Items {
		if other, dup := seen[s.Spec.ClusterIP]; dup {
			t.Fatalf("%s and %s share ClusterIP %s", s.Name, other, s.Spec.ClusterIP)
		}
		if !prefix.Contains(netip.MustParseAddr(s.Spec.ClusterIP)) {
			t.Fatalf("%s got %s outside the range", s.Name, s.Spec.ClusterIP)
		}
		seen[s.Spec.ClusterIP] = s.Name
	}
	if len(seen) != 501 {
		t.Fatalf("want 501 distinct ClusterIPs, got %d", len(seen))
	}
}

// A watch's initial events span several pages of the store (500 objects a
// page): every object comes once, at or below the bookmark's revision, in
// protobuf (sent as stored) and in JSON alike; changes after the bookmark
// follow, a deletion carrying the object's last state.
func TestInitialEventsAcrossPages(t *testing.T) {
	s := sharedServer(t)
	ctx := ctxT(t)
	c := s.client(false)
	ns := testNamespace(t, c)
	const n = 1100
	inParallel(t, n, 16, func(i int) error {
		_, err := c.DiscoveryV1().EndpointSlices(ns).Create(ctx, newSlice(fmt.Sprintf("s-%04d", i), i), metav1.CreateOptions{})
		return err
	})
	for i, enc := range []struct {
		name string
		json bool
	}{{"protobuf", false}, {"json", true}} {
		t.Run(enc.name, func(t *testing.T) {
			want := n - i // each run deletes one
			wc := s.client(enc.json).DiscoveryV1().EndpointSlices(ns)
			w, err := wc.Watch(ctx, metav1.ListOptions{SendInitialEvents: ptr(true), AllowWatchBookmarks: true,
				ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			next := func() (string, *discoveryv1.EndpointSlice) {
				select {
				case ev, ok := <-w.ResultChan():
					if !ok {
						t.Fatal("watch ended")
					}
					sl, ok := ev.Object.(*discoveryv1.EndpointSlice)
					if !ok {
						t.Fatalf("%s event of %T: %v", ev.Type, ev.Object, ev.Object)
					}
					return string(ev.Type), sl
				case <-time.After(20 * time.Second):
					t.Fatal("no event in 20s")
				}
				return "", nil
			}
			seen := map[string]int64{}
			var bookmark int64
			for bookmark == 0 {
				typ, sl := next()
				switch typ {
				case "ADDED":
					if _, dup := seen[sl.Name]; dup {
						t.Fatalf("%s twice", sl.Name)
					}
					if len(sl.Endpoints) != 1 || sl.Labels[discoveryv1.LabelServiceName] != "web" || sl.UID == "" {
						t.Fatalf("%s arrived incomplete: %+v", sl.Name, sl)
					}
					seen[sl.Name] = rvOf(sl)
				case "BOOKMARK":
					if sl.Annotations[metav1.InitialEventsAnnotationKey] != "true" {
						t.Fatalf("bookmark without the initial-events-end mark: %v", sl.Annotations)
					}
					bookmark = rvOf(sl)
				default:
					t.Fatalf("%s before the bookmark", typ)
				}
			}
			if len(seen) != want {
				t.Fatalf("%d initial events, want %d", len(seen), want)
			}
			for name, rv := range seen {
				if rv == 0 || rv > bookmark {
					t.Fatalf("%s at %d, bookmark at %d", name, rv, bookmark)
				}
			}
			victim := fmt.Sprintf("s-%04d", i)
			got, err := c.DiscoveryV1().EndpointSlices(ns).Get(ctx, victim, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			got.Labels["touched"] = "yes"
			upd, err := c.DiscoveryV1().EndpointSlices(ns).Update(ctx, got, metav1.UpdateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if typ, sl := next(); typ != "MODIFIED" || sl.Name != victim || sl.ResourceVersion != upd.ResourceVersion || sl.Labels["touched"] != "yes" {
				t.Fatalf("after update: %s %s rv %s (want %s) labels %v", typ, sl.Name, sl.ResourceVersion, upd.ResourceVersion, sl.Labels)
			}
			if err := c.DiscoveryV1().EndpointSlices(ns).Delete(ctx, victim, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			if typ, sl := next(); typ != "DELETED" || sl.Name != victim || rvOf(sl) <= rvOf(upd) || sl.Labels["touched"] != "yes" {
				t.Fatalf("after delete: %s %s rv %s labels %v", typ, sl.Name, sl.ResourceVersion, sl.Labels)
			}
		})
	}
}

// inParallel runs f(0..n-1), at most width at a time, and fails the test on
// any error.
func inParallel(t *testing.T, n, width int, f func(i int) error) {
	t.Helper()
	sem := make(chan struct{}, width)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := f(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
