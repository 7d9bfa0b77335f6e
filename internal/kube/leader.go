package kube

import (
	"context"
	"log/slog"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LeaderConfig names the Lease the controllers of a cluster share.
type LeaderConfig struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string
	Identity  string
	Log       *slog.Logger
	// Durations; zero takes Kubernetes' controller-manager defaults.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// RunLeading runs run while this process holds the Lease, and runs for
// election again when it loses it, until ctx ends.
func RunLeading(ctx context.Context, cfg LeaderConfig, run func(ctx context.Context)) {
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod = 15*time.Second, 10*time.Second, 2*time.Second
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.Name},
		Client:     cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	for ctx.Err() == nil {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   cfg.LeaseDuration,
			RenewDeadline:   cfg.RenewDeadline,
			RetryPeriod:     cfg.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            cfg.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					cfg.Log.Info("leading", "lease", cfg.Namespace+"/"+cfg.Name, "identity", cfg.Identity)
					run(ctx)
				},
				OnStoppedLeading: func() { cfg.Log.Info("stopped leading", "lease", cfg.Name, "identity", cfg.Identity) },
			},
		})
	}
}
