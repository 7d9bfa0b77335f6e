package nodeagent

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// A controller writing the Node at the moment the agent registers (on a
// real control plane kube-controller-manager sets its podCIDR) is a
// conflict the agent tries again, not a reason to exit; nor is a Node whose
// pod CIDR comes late.
func TestRegisterTriesAgain(t *testing.T) {
	existing := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	client := fake.NewClientset(existing)
	conflicts := 2
	client.PrependReactor("update", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() == "status" && conflicts > 0 {
			conflicts--
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "nodes"}, "n", nil)
		}
		return false, nil, nil
	})
	// The pod CIDR arrives after the first attempts.
	gets := 0
	client.PrependReactor("get", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		gets++
		if gets > 3 {
			n := existing.DeepCopy()
			n.Spec.PodCIDRs = []string{"10.244.1.0/24"}
			return true, n, nil
		}
		return false, nil, nil
	})
	a, err := New(Config{NodeName: "n"}, client, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if !a.registerUntilDone(ctx) {
		t.Fatal("registration gave up")
	}
	if conflicts != 0 || len(a.cidrs) != 1 || a.cidrs[0].String() != "10.244.1.0/24" {
		t.Fatalf("conflicts left %d, cidrs %v", conflicts, a.cidrs)
	}
	cancel()
	if a.registerUntilDone(ctx) {
		t.Fatal("registered with ctx ended")
	}
}
