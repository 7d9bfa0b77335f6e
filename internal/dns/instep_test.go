package dns

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/svcnet/svcnet/internal/testutil"
)

// fakeAPI is a ListerWatcher whose next watch is w (or fails with err).
type fakeAPI struct {
	w       *watch.FakeWatcher
	listErr error
	err     error
}

func (f *fakeAPI) lw() cache.ListerWatcher {
	return &cache.ListWatch{
		ListFunc: func(metav1.ListOptions) (runtime.Object, error) { return &metav1.List{}, f.listErr },
		WatchFunc: func(metav1.ListOptions) (watch.Interface, error) {
			if f.err != nil {
				return nil, f.err
			}
			return f.w, nil
		},
	}
}

func TestInStep(t *testing.T) {
	var clock atomic.Int64 // the reader of a stream records its end
	clock.Store(time.Unix(1000, 0).UnixNano())
	st := newInStep(func() time.Time { return time.Unix(0, clock.Load()) })
	api := &fakeAPI{w: watch.NewFake()}
	lw := st.track(api.lw(), "services").(cache.ListerWatcherWithContext)
	ctx := context.Background()
	tick := func(d time.Duration) { clock.Add(int64(d)) }
	down := func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		_, ok := st.down["services"]
		return ok
	}
	want := func(step string, d time.Duration) {
		t.Helper()
		if got := st.unsyncedFor(); got != d {
			t.Fatalf("%s: unsynced for %s, want %s", step, got, d)
		}
	}

	tick(2 * time.Second)
	want("before the first watch", 2*time.Second)
	w, err := lw.WatchWithContext(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want("a watch open", 0)

	// Events pass through.
	go api.w.Add(&metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "a"}})
	if ev := <-w.ResultChan(); ev.Type != watch.Added {
		t.Fatalf("event %v", ev.Type)
	}

	// The API goes away: the stream ends by itself.
	api.w.Stop()
	for range w.ResultChan() {
	}
	testutil.Eventually(t, 5*time.Second, "the ended stream counted", func() error {
		if !down() {
			return errors.New("still in step")
		}
		return nil
	})
	tick(10 * time.Second)
	api.err = errors.New("connection refused")
	if _, err := lw.WatchWithContext(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("watch did not fail")
	}
	want("the API still away: down since the stream ended", 10*time.Second)

	// The API is back.
	api.err, api.w = nil, watch.NewFake()
	w, _ = lw.WatchWithContext(ctx, metav1.ListOptions{})
	want("back", 0)

	// Stopping a watch (the reflector's own choice) is not losing it.
	w.Stop()
	want("stopped by its reader", 0)

	// An ERROR event (410 Gone: a relist follows) is.
	api.w = watch.NewFake()
	w, _ = lw.WatchWithContext(ctx, metav1.ListOptions{})
	go api.w.Error(&metav1.Status{Code: 410})
	<-w.ResultChan()
	tick(time.Second)
	want("after an error event", time.Second)

	// A failing list keeps it down.
	api.listErr = errors.New("504")
	_, _ = lw.ListWithContext(ctx, metav1.ListOptions{})
	tick(time.Second)
	want("a failing list", 2*time.Second)
	w.Stop()
}

func TestReflectorBackoffIsShort(t *testing.T) {
	b := reflectorBackoff
	var longest time.Duration
	for i := 0; i < 50; i++ {
		longest = max(longest, b.Step())
	}
	if longest > 3*time.Second {
		t.Fatalf("a reflector may wait %s between tries; the DNS must be back within 5s of the API", longest)
	}
}
