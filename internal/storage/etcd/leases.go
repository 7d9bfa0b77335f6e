package etcd

import (
	"context"
	"sync"
	"time"
)

// leases hands out etcd leases for keys that expire, one lease shared by
// every key written within a short while, as kube-apiserver's lease manager
// does: a lease per Event would cost a grant per write and a lease object
// per key in etcd. A lease is granted for the TTL plus a reuse period (5% of
// the TTL, at most a minute) and reused while it outlives the requested TTL
// by no more than that period, for at most maxAttached keys: a key expires
// between its TTL and its TTL plus a minute after its write.
type leases struct {
	grant func(ctx context.Context, ttlSeconds int64) (int64, error)
	now   func() time.Time

	mu       sync.Mutex
	id       int64
	expires  time.Time
	attached int
}

const (
	leaseReuseMax      = time.Minute
	leaseReuseFraction = 0.05
	maxAttached        = 1000
)

func newLeases(grant func(context.Context, int64) (int64, error), now func() time.Time) *leases {
	return &leases{grant: grant, now: now}
}

// get returns a lease that keeps a key at least ttl (rounded up to seconds).
func (l *leases) get(ctx context.Context, ttl time.Duration) (int64, error) {
	secs := int64((ttl + time.Second - 1) / time.Second)
	reuse := min(time.Duration(float64(secs)*leaseReuseFraction*float64(time.Second)), leaseReuseMax).Truncate(time.Second)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	need := now.Add(time.Duration(secs) * time.Second)
	if l.id != 0 && l.attached < maxAttached && !need.After(l.expires) && !need.Add(reuse).Before(l.expires) {
		l.attached++
		return l.id, nil
	}
	total := secs + int64(reuse/time.Second)
	id, err := l.grant(ctx, total)
	if err != nil {
		return 0, err
	}
	l.id, l.expires, l.attached = id, now.Add(time.Duration(total)*time.Second), 1
	return id, nil
}
