package etcd

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestCtxErr(t *testing.T) {
	live := context.Background()
	ended, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	failure := errors.New("etcdserver: no leader")
	cases := []struct {
		name     string
		ctx      context.Context
		err      error
		deadline bool
	}{
		{"ctx ended", ended, failure, true},
		{"etcd says DeadlineExceeded", live, status.Error(codes.DeadlineExceeded, "context deadline exceeded"), true},
		{"etcd says Unknown: context deadline exceeded", live, status.Error(codes.Unknown, "context deadline exceeded"), true},
		{"a failure stays a failure", live, failure, false},
		{"an Unknown of another kind too", live, status.Error(codes.Unknown, "disk full"), false},
	}
	for _, tc := range cases {
		if got := errors.Is(ctxErr(tc.ctx, tc.err), context.DeadlineExceeded); got != tc.deadline {
			t.Errorf("%s: deadline %v, want %v", tc.name, got, tc.deadline)
		}
	}
}
