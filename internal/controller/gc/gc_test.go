package gc

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestDecide(t *testing.T) {
	cases := []struct {
		name   string
		states []ownerState
		del    bool
		policy metav1.DeletionPropagation
		orphan int
	}{
		{"owner alive", []ownerState{ownerLive}, false, "", 0},
		{"owner gone", []ownerState{ownerGone}, true, metav1.DeletePropagationBackground, 0},
		{"one of two owners alive", []ownerState{ownerGone, ownerLive}, false, "", 0},
		{"owner in the foreground", []ownerState{ownerForeground}, true, metav1.DeletePropagationForeground, 0},
		{"owner orphaning", []ownerState{ownerOrphaning}, false, "", 1},
		{"unknown owner kind is kept", []ownerState{ownerUnknownKind}, false, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			del, policy, orphan := Decide(tc.states)
			if del != tc.del || policy != tc.policy || len(orphan) != tc.orphan {
				t.Fatalf("Decide = %v %v %v", del, policy, orphan)
			}
		})
	}
}
