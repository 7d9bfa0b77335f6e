package daemon

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// TestChildStopsFirst: when the group stops, the child's components end
// before after runs (the server they use stops only then).
func TestChildStopsFirst(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := NewGroup(ctx)
	var mu sync.Mutex
	var order []string
	note := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, s)
	}
	child, seal := g.Child(func() { note("after") })
	child.Go(func(ctx context.Context) error {
		<-ctx.Done()
		note("client stopped")
		return nil
	})
	seal()
	cancel()
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(order) != 2 || order[0] != "client stopped" || order[1] != "after" {
		t.Fatalf("order %v", order)
	}
}

// TestChildErrorStopsTheGroup: a child component's failure stops the whole
// group with its error, and after still runs.
func TestChildErrorStopsTheGroup(t *testing.T) {
	g := NewGroup(context.Background())
	g.Go(func(ctx context.Context) error { <-ctx.Done(); return nil }) // a server
	afterRan := false
	child, seal := g.Child(func() { afterRan = true })
	boom := errors.New("boom")
	child.Go(func(context.Context) error { return boom })
	seal()
	if err := g.Wait(); !errors.Is(err, boom) {
		t.Fatalf("group ended with %v, want the child's error", err)
	}
	if !afterRan {
		t.Fatal("after did not run")
	}
}
