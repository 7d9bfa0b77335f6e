package kube

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func template(image string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "api"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: image}}}}
}

func TestComputeHash(t *testing.T) {
	one := int32(1)
	base := ComputeHash(template("api:1"), nil)
	if base != ComputeHash(template("api:1"), nil) {
		t.Fatal("equal templates hash differently")
	}
	for name, other := range map[string]string{
		"another image":   ComputeHash(template("api:2"), nil),
		"collision count": ComputeHash(template("api:1"), &one),
	} {
		if other == base {
			t.Errorf("%s: same hash %s", name, base)
		}
	}
	for _, r := range base {
		if !('a' <= r && r <= 'z' || '0' <= r && r <= '9') {
			t.Fatalf("hash %q is not safe for a name", base)
		}
	}
}

// itemKey is a typed key, as the garbage collector uses.
type itemKey struct{ kind, name string }

// TestLoopRetriesTypedKeys: a failing sync is retried (rate-limited) until
// it succeeds, with the key's own type, and Run ends with its context.
func TestLoopRetriesTypedKeys(t *testing.T) {
	var mu sync.Mutex
	calls := map[itemKey]int{}
	done := make(chan struct{})
	q := NewQueue[itemKey]("test")
	l := &Loop[itemKey]{Name: "test", Queue: q, Workers: 2, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sync: func(_ context.Context, k itemKey) error {
			mu.Lock()
			defer mu.Unlock()
			calls[k]++
			if k.name == "flaky" && calls[k] < 3 {
				return errors.New("not yet")
			}
			if calls[itemKey{"pod", "flaky"}] == 3 && calls[itemKey{"pod", "fine"}] == 1 {
				close(done)
			}
			return nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- l.Run(ctx) }()
	q.Add(itemKey{"pod", "flaky"})
	q.Add(itemKey{"pod", "fine"})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("syncs: %v", calls)
	}
	cancel()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	if !q.ShuttingDown() {
		t.Fatal("the queue outlived the loop")
	}
}

func TestExpectations(t *testing.T) {
	now := time.Unix(1000, 0)
	e := NewExpectations(time.Minute, func() time.Time { return now })
	if !e.Satisfied("rs") {
		t.Fatal("nothing expected, yet not satisfied")
	}
	e.Expect("rs", 2, 1)
	steps := []struct {
		add  bool
		want bool
	}{{true, false}, {true, false}, {false, true}}
	for i, s := range steps {
		e.Observed("rs", s.add)
		if got := e.Satisfied("rs"); got != s.want {
			t.Fatalf("after observation %d: satisfied %v, want %v", i, got, s.want)
		}
	}
	e.Expect("rs", 5, 0)
	now = now.Add(2 * time.Minute)
	if !e.Satisfied("rs") {
		t.Fatal("an expectation past its ttl still holds")
	}
	e.Expect("rs", 1, 0)
	e.Forget("rs")
	if !e.Satisfied("rs") {
		t.Fatal("a forgotten expectation still holds")
	}
}
