// Package daemon holds what every svcnet process shares: its logger, the
// group its components run in, and its /metrics, /health, /ready and
// /debug/pprof HTTP server. It links no component, so the DNS-only binary
// can use it and stay small.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"k8s.io/klog/v2"
)

// NewLogger makes a text logger at a --log-level (debug, info, warn, error).
func NewLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("invalid --log-level %q", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

var klogOnce sync.Once

// RouteKlog sends client-go's klog output to log. klog is process-wide, so
// the first caller's logger stays (tests run several servers in one
// process; replacing it under running clients is a data race).
func RouteKlog(log *slog.Logger) {
	klogOnce.Do(func() { klog.SetSlogLogger(log) })
}

// Group runs components; the first error (or its context's end) stops them
// all.
type Group struct {
	Ctx    context.Context
	Cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

// NewGroup starts an empty group under ctx.
func NewGroup(ctx context.Context) *Group {
	c, cancel := context.WithCancel(ctx)
	return &Group{Ctx: c, Cancel: cancel}
}

// Go runs f; when it returns, the group stops.
func (g *Group) Go(f func(context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		if err := f(g.Ctx); err != nil && !errors.Is(err, context.Canceled) {
			g.once.Do(func() { g.err = err })
		}
		g.Cancel()
	}()
}

// Wait waits for every component and returns the first error.
func (g *Group) Wait() error {
	g.wg.Wait()
	return g.err
}

// Child is a group for components that use what g's own components serve
// (clients of the API server in g). They run under g and stop first: once
// g stops, or one of them fails, they are cancelled and waited for, and
// only then is after called (to stop what they used). A child's error
// stops g. Call seal once every component has been added to the child; the
// child is not waited for before that.
func (g *Group) Child(after func()) (child *Group, seal func()) {
	child = NewGroup(g.Ctx)
	sealed := make(chan struct{})
	var once sync.Once
	g.Go(func(ctx context.Context) error {
		select {
		case <-ctx.Done():
		case <-child.Ctx.Done():
		}
		<-sealed
		child.Cancel()
		err := child.Wait()
		after()
		return err
	})
	return child, func() { once.Do(func() { close(sealed) }) }
}
