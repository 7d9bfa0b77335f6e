package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// TestPodEvents: the scheduler and the node say what they do to a pod, as
// kube-scheduler and a kubelet do, so `kubectl describe pod` reads the
// same: Scheduled, Pulled, Created, Started, then Killing; a pod no node
// fits gets FailedScheduling.
func TestPodEvents(t *testing.T) {
	s := startServer(t, serverOpts{controllers: true, nodeName: "node-1"})
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	reasons := func(pod string) []string {
		list, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", pod).String()})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range list.Items {
			out = append(out, e.Reason)
		}
		return out
	}
	want := func(pod string, rs ...string) {
		t.Helper()
		eventually(t, 10*time.Second, func() error {
			got := reasons(pod)
			for _, r := range rs {
				if !slices.Contains(got, r) {
					return fmt.Errorf("events of %s: %v, want %v", pod, got, rs)
				}
			}
			return nil
		})
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want("p", "Scheduled", "Pulled", "Created", "Started")
	if err := c.CoreV1().Pods(ns).Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want("p", "Killing")
	nowhere := pod.DeepCopy()
	nowhere.Name, nowhere.Spec.NodeSelector = "nowhere", map[string]string{"disk": "ssd"}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, nowhere, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want("nowhere", "FailedScheduling")
}
