package app

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/registry"
)

// The garbage collector follows every stored resource but Events, as
// kube-controller-manager's does.
func TestGCResourcesLeaveOutEvents(t *testing.T) {
	reg := registry.New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, registry.Resources(registry.Config{Services: &registry.ServiceStrategy{}}))
	got := map[string]bool{}
	for _, r := range gcResources(reg) {
		got[r.GVR.Resource] = true
	}
	if got["events"] {
		t.Error("the garbage collector follows events")
	}
	for _, want := range []string{"pods", "replicasets", "deployments", "configmaps", "endpointslices"} {
		if !got[want] {
			t.Errorf("the garbage collector does not follow %s", want)
		}
	}
	if got["selfsubjectaccessreviews"] {
		t.Error("the garbage collector follows a review, which is never stored")
	}
}
