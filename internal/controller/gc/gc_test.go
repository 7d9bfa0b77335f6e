package gc

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
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

// The collector reads the ObjectMeta of whatever its informers hold: the
// controllers' typed objects, metadata-only ones, and deletion tombstones
// of either.
func TestMetaOfInformerObjects(t *testing.T) {
	owner := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u-rs"}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u-p", OwnerReferences: owner}}
	partial := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "x", UID: "u-x", Finalizers: []string{metav1.FinalizerDeleteDependents}}}
	cases := []struct {
		name    string
		obj     interface{}
		wantUID string
	}{
		{"typed", pod, "u-p"},
		{"metadata", partial, "u-x"},
		{"typed tombstone", cache.DeletedFinalStateUnknown{Key: "ns/p", Obj: pod}, "u-p"},
		{"metadata tombstone", cache.DeletedFinalStateUnknown{Key: "x", Obj: partial}, "u-x"},
		{"not an object", "ns/p", ""},
		{"nil", nil, ""},
	}
	for _, tc := range cases {
		got := ""
		if m := meta(tc.obj); m != nil {
			got = string(m.UID)
		}
		if got != tc.wantUID {
			t.Errorf("%s: UID %q, want %q", tc.name, got, tc.wantUID)
		}
	}
	if m := meta(pod); m != &pod.ObjectMeta || len(m.OwnerReferences) != 1 {
		t.Error("a typed object's ObjectMeta is not its own")
	}
	if !hasGCFinalizer(meta(partial)) || hasGCFinalizer(meta(pod)) {
		t.Error("GC finalizers misread")
	}
}
