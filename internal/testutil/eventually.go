// Package testutil holds what tests of every tier (and the benchmarks)
// share: one way to wait for a condition, and a buffer goroutines write.
package testutil

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Interval is how often Eventually asks.
const Interval = 20 * time.Millisecond

// Eventually asks cond every Interval (the first time at once) until it
// returns nil, and fails t with what and cond's last error if that has not
// happened within timeout.
func Eventually(t interface {
	Helper()
	Fatalf(string, ...any)
}, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), Interval, timeout, true, func(context.Context) (bool, error) {
		last = cond()
		return last == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s: %v", what, timeout, last)
	}
}
