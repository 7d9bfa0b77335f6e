package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// TestEventsExpire: Events are removed --event-ttl after their last write,
// as kube-apiserver keeps them; an Event written again (a repeat counted)
// lives on from that write; nothing else expires.
func TestEventsExpire(t *testing.T) {
	const ttl = 3 * time.Second
	s := startServer(t, serverOpts{eventTTL: ttl})
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	event := func(name string) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name}, Reason: "Tested", Message: "m", Count: 1,
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "p"}}
	}
	start := time.Now()
	for _, name := range []string{"once", "again"} {
		if _, err := c.CoreV1().Events(ns).Create(ctx, event(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stays"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl / 2)
	again, err := c.CoreV1().Events(ns).Get(ctx, "again", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	again.Count = 2
	if _, err := c.CoreV1().Events(ns).Update(ctx, again, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rewritten := time.Now()
	exists := func(name string) bool {
		_, err := c.CoreV1().Events(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	eventually(t, 10*time.Second, func() error {
		if exists("once") {
			return fmt.Errorf("the Event written once is still there %v after its write", time.Since(start).Round(time.Millisecond))
		}
		return nil
	})
	if gone := time.Since(start); gone < ttl {
		t.Errorf("the Event written once was gone after %v, before its TTL of %v", gone, ttl)
	}
	// "once" went at ttl (etcd revokes within a second); "again" was
	// written ttl/2 later, so it must still be there.
	if time.Since(rewritten) < ttl && !exists("again") {
		t.Errorf("the Event written again was removed %v after its last write (TTL %v)", time.Since(rewritten), ttl)
	}
	eventually(t, 10*time.Second, func() error {
		if exists("again") {
			return fmt.Errorf("the Event written again is still there %v after its last write", time.Since(rewritten).Round(time.Millisecond))
		}
		return nil
	})
	if _, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "stays", metav1.GetOptions{}); err != nil {
		t.Errorf("a ConfigMap written with the Events: %v", err)
	}
}
