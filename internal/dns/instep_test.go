package dns

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
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
	clock := time.Unix(1000, 0)
	st := newInStep(func() time.Time { return clock })
	api := &fakeAPI{w: watch.NewFake()}
	lw := st.track(api.lw(), "services").(cache.ListerWatcherWithContext)
	ctx := context.Background()
	tick := func(d time.Duration) { clock = clock.Add(d) }
	want := func(step string, d time.Duration) {
		t.Helper()
		if got := st.unsyncedFor(); got != d {
			t.Fatalf("%s: unsynced for %s, want %s", step, got, d)
		}
	}

	tick(2 * time.Second)
	want("before the first list", 2*time.Second)
	if _, err := lw.ListWithContext(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	want("listed, no watch yet", 2*time.Second)
	if _, err := lw.WatchWithContext(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	want("a watch open", 0)

	// The stream ends (the API went away): the reflector asks again at
	// once, and from then on the kind is out of step while the API is away.
	tick(time.Minute)
	want("a watch open a minute on", 0)
	api.err = errors.New("connection refused")
	if _, err := lw.WatchWithContext(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("watch did not fail")
	}
	tick(10 * time.Second)
	if _, err := lw.WatchWithContext(ctx, metav1.ListOptions{}); err == nil {
		t.Fatal("watch did not fail")
	}
	want("away: since the first try again", 10*time.Second)

	// The API is back.
	api.err, api.w = nil, watch.NewFake()
	if _, err := lw.WatchWithContext(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	want("back", 0)

	// A relist (after 410 Gone) is out of step until its watch opens.
	api.listErr = errors.New("504")
	_, _ = lw.ListWithContext(ctx, metav1.ListOptions{})
	tick(time.Second)
	want("a failing list", time.Second)
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
