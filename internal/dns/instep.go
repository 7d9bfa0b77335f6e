package dns

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// reflectorBackoff is how soon a reflector tries the API again: client-go's
// default grows to 30–60s, so after a long outage the DNS stayed stale for
// up to a minute once the API was back. Capped at 2s (3s with jitter), it
// is back in step within seconds whatever the outage's length; a retry is
// a watch resumed from where it stopped, cheap for the API.
var reflectorBackoff = wait.Backoff{Duration: 250 * time.Millisecond, Factor: 2, Jitter: 0.5, Steps: 1000, Cap: 2 * time.Second}

// inStep tracks whether the DNS follows the API: it does while every kind
// it reads has a watch open. A kind without one (the API gone, a list
// failing) answers from the last state it saw; unsyncedFor says since when.
type inStep struct {
	now  func() time.Time
	mu   sync.Mutex
	down map[string]time.Time // kind → since when it has had no open watch
}

func newInStep(now func() time.Time) *inStep {
	return &inStep{now: now, down: map[string]time.Time{}}
}

// set records that kind has (up) or has lost its watch; a kind that is
// down stays down since the first time.
func (s *inStep) set(kind string, up bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if up {
		delete(s.down, kind)
	} else if _, ok := s.down[kind]; !ok {
		s.down[kind] = s.now()
	}
}

// unsyncedFor is how long the stalest kind has been without a watch; 0
// when every kind follows the API.
func (s *inStep) unsyncedFor() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	var d time.Duration
	for _, since := range s.down {
		d = max(d, s.now().Sub(since))
	}
	return d
}

// track wraps lw so that st hears whether kind has a watch open.
func (s *inStep) track(lw cache.ListerWatcher, kind string) cache.ListerWatcher {
	s.set(kind, false) // not yet listed
	return &trackedLW{lw: cache.ToListerWatcherWithContext(lw), kind: kind, st: s}
}

type trackedLW struct {
	lw   cache.ListerWatcherWithContext
	kind string
	st   *inStep
}

func (t *trackedLW) List(opts metav1.ListOptions) (runtime.Object, error) {
	return t.ListWithContext(context.Background(), opts)
}

func (t *trackedLW) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return t.WatchWithContext(context.Background(), opts)
}

// A list or watch is asked for when the last watch has ended (or never
// began): the kind is no longer in step from then until a watch opens. The
// reflector asks again at once after a stream ends, after its back-off
// (2–3s at most) after an error, so no event needs relaying to see it.

func (t *trackedLW) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	t.st.set(t.kind, false)
	return t.lw.ListWithContext(ctx, opts)
}

func (t *trackedLW) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	t.st.set(t.kind, false)
	w, err := t.lw.WatchWithContext(ctx, opts)
	if err == nil {
		t.st.set(t.kind, true)
	}
	return w, err
}
