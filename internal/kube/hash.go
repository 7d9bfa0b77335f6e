package kube

import (
	"fmt"
	"hash/fnv"

	"github.com/davecgh/go-spew/spew"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/rand"
)

// ComputeHash is Kubernetes' pod-template-hash (Deployments) and
// controller-revision hash (StatefulSets): FNV-32a over a deep print of the
// template and the collision count, safely encoded.
func ComputeHash(t *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	printer := spew.ConfigState{Indent: " ", SortKeys: true, DisableMethods: true, SpewKeys: true}
	printer.Fprintf(h, "%#v", *t)
	if collisionCount != nil {
		v := uint32(*collisionCount)
		h.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}
