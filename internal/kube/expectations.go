package kube

import (
	"sync"
	"time"
)

// Expectations remember creates and deletes a controller has asked for and
// not yet seen in its informer, so it does not act on a stale cache. An
// expectation that is not met in time expires.
type Expectations struct {
	mu      sync.Mutex
	pending map[string]*expectation
	ttl     time.Duration
	now     func() time.Time
}

type expectation struct {
	adds, dels int
	at         time.Time
}

// NewExpectations builds expectations that expire after ttl.
func NewExpectations(ttl time.Duration, now func() time.Time) *Expectations {
	return &Expectations{pending: map[string]*expectation{}, ttl: ttl, now: now}
}

// Expect records adds and deletes about to be made for key.
func (e *Expectations) Expect(key string, adds, dels int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pending[key] = &expectation{adds: adds, dels: dels, at: e.now()}
}

// Observed records one add (or delete) seen, or one that will never come.
func (e *Expectations) Observed(key string, add bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.pending[key]; ok {
		if add {
			x.adds--
		} else {
			x.dels--
		}
	}
}

// Satisfied reports whether key's cache can be trusted.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.pending[key]
	if !ok || (x.adds <= 0 && x.dels <= 0) || e.now().Sub(x.at) > e.ttl {
		delete(e.pending, key)
		return true
	}
	return false
}

// Forget drops key's expectations.
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.pending, key)
}
