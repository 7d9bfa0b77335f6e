package kube

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
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

func TestQueryOptions(t *testing.T) {
	three, ten, since := int64(3), int64(10), int64(60)
	at := metav1.NewTime(time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC))
	stream := "Stdout"
	for _, o := range []*corev1.PodLogOptions{{}, {Container: "c", Follow: true, Previous: true, Timestamps: true, TailLines: &three,
		LimitBytes: &ten, SinceSeconds: &since}, {SinceTime: &at, Stream: &stream}} {
		q, err := EncodeQuery(o)
		if err != nil {
			t.Fatal(err)
		}
		got := &corev1.PodLogOptions{}
		if err := DecodeQuery(q, got); err != nil {
			t.Fatalf("%v: %v", q, err)
		}
		got.TypeMeta = o.TypeMeta
		if !apiequality.Semantic.DeepEqual(got, o) {
			t.Fatalf("round trip of %+v through %v gave %+v", o, q, got)
		}
	}
	for _, q := range []url.Values{{"tailLines": {"x"}}, {"follow": {"perhaps"}}, {"sinceTime": {"yesterday"}}} {
		if err := DecodeQuery(q, &corev1.PodLogOptions{}); err == nil {
			t.Errorf("%v decoded without an error", q)
		}
	}
	// The write verbs' options, as kube-apiserver decodes them.
	var po metav1.PatchOptions
	if err := DecodeQuery(url.Values{"dryRun": {"All"}, "fieldManager": {"kubectl"}, "force": {"true"}, "fieldValidation": {"Strict"}}, &po); err != nil {
		t.Fatal(err)
	}
	if len(po.DryRun) != 1 || po.DryRun[0] != "All" || po.FieldManager != "kubectl" || po.Force == nil || !*po.Force || po.FieldValidation != "Strict" {
		t.Fatalf("PatchOptions: %+v", po)
	}
}
