package testutil

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type recorder struct{ failed string }

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(f string, args ...any) {
	r.failed = fmt.Sprintf(f, args...)
}

func TestEventually(t *testing.T) {
	calls := 0
	var r recorder
	Eventually(&r, time.Second, "third time", func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if r.failed != "" || calls != 3 {
		t.Fatalf("succeeded after %d calls, failure %q", calls, r.failed)
	}
	Eventually(&r, 50*time.Millisecond, "never", func() error { return errors.New("still 7") })
	if !strings.Contains(r.failed, "never: not within 50ms: still 7") {
		t.Fatalf("failure: %q", r.failed)
	}
}
