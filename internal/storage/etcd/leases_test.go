package etcd

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A lease is shared while it keeps each key at least its TTL and at most
// the reuse period longer; a longer TTL, time passing or a full lease gets a
// new one; a failed grant is reported and leaves nothing behind.
func TestLeasesAreSharedWithinTheReusePeriod(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var granted []int64 // TTLs asked for
	fail := false
	l := newLeases(func(_ context.Context, ttl int64) (int64, error) {
		if fail {
			return 0, errors.New("no leader")
		}
		granted = append(granted, ttl)
		return int64(len(granted)), nil
	}, func() time.Time { return now })
	get := func(ttl time.Duration) int64 {
		t.Helper()
		id, err := l.get(context.Background(), ttl)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	hour := time.Hour
	steps := []struct {
		name    string
		advance time.Duration
		ttl     time.Duration
		want    int64
	}{
		{"first key: a lease of ttl + 60 s", 0, hour, 1},
		{"same moment: shared", 0, hour, 1},
		{"59 s later: still within the reuse period", 59 * time.Second, hour, 1},
		{"61 s after the grant: the lease would keep the key under its ttl", 2 * time.Second, hour, 2},
		{"a shorter ttl would be kept far too long: its own lease", 0, 10 * time.Second, 3},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if got := get(s.ttl); got != s.want {
			t.Errorf("%s: lease %d, want %d", s.name, got, s.want)
		}
	}
	if granted[0] != 3600+60 || granted[2] != 10 {
		t.Errorf("granted TTLs %v, want 3660 first and 10 (5%% of 10 s rounds to 0) third", granted)
	}
	// A lease holds at most maxAttached keys.
	l = newLeases(l.grant, l.now)
	granted = nil
	for range maxAttached + 1 {
		get(hour)
	}
	if len(granted) != 2 {
		t.Errorf("%d keys on leases: %d grants, want 2", maxAttached+1, len(granted))
	}
	fail = true
	now = now.Add(2 * time.Hour)
	if _, err := l.get(context.Background(), hour); err == nil {
		t.Error("a failed grant was not reported")
	}
	fail = false
	if id := get(hour); id != 3 {
		t.Errorf("after a failed grant: lease %d, want a new one (3)", id)
	}
}
