package nodeagent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/testutil"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// slowStopRuntime runs pods at once and needs stops Stop calls to end one.
type slowStopRuntime struct {
	mu    sync.Mutex
	stops int
	need  int
}

func (r *slowStopRuntime) Sync(pod *corev1.Pod, ips []netip.Addr, hostIP string, now time.Time) (corev1.PodStatus, time.Duration) {
	return SimStatus(pod, ips, hostIP, 0, now)
}

func (r *slowStopRuntime) Stop(*corev1.Pod, time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stops++
	return r.stops >= r.need
}

func (r *slowStopRuntime) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stops
}

// TestPodDeletedFromUnderTheAgent: a pod removed from the API while it
// runs (a force delete) is stopped by the agent's own loop, retried until
// its processes are gone, and only then gives its address back; nothing
// outlives the agent's context.
func TestPodDeletedFromUnderTheAgent(t *testing.T) {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{PodCIDRs: []string{"10.244.3.0/30"}}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "p", UID: "uid-p"},
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "img"}}}}
	client := fake.NewClientset(node, pod)
	rt := &slowStopRuntime{need: 3}
	a, err := New(Config{NodeName: "n1", Runtime: rt, RuntimeName: "test"}, client, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	poll := func(what string, cond func() bool) {
		t.Helper()
		testutil.Eventually(t, 10*time.Second, what, func() error {
			if !cond() {
				return errors.New("not yet")
			}
			return nil
		})
	}
	poll("the pod's address", func() bool {
		p, err := client.CoreV1().Pods("default").Get(ctx, "p", metav1.GetOptions{})
		return err == nil && p.Status.PodIP == "10.244.3.2"
	})
	if err := client.CoreV1().Pods("default").Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	poll("the runtime to be asked to stop the pod until it has", func() bool { return rt.calls() >= 3 })
	// The /30 has one address: another pod gets it only once it is free.
	poll("the address to be released", func() bool {
		ips, err := a.ips.Assign("uid-q")
		return err == nil && ips[0].String() == "10.244.3.2"
	})
	a.goneMu.Lock()
	left := len(a.gone)
	a.goneMu.Unlock()
	if left != 0 {
		t.Fatalf("%d pods still kept as gone after they stopped", left)
	}
}
