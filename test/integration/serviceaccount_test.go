package integration

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDefaultServiceAccounts: every namespace gets a ServiceAccount named
// default (again when it is deleted), and a pod without one runs as it.
func TestDefaultServiceAccounts(t *testing.T) {
	s := startServer(t, serverOpts{controllers: true})
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	for _, namespace := range []string{ns, "kube-system", "default"} {
		eventually(t, 10*time.Second, func() error {
			_, err := c.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
			return err
		})
	}
	if err := c.CoreV1().ServiceAccounts(ns).Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		_, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	pod, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.ServiceAccountName != "default" || pod.Spec.DeprecatedServiceAccount != "default" {
		t.Fatalf("serviceAccountName %q / %q, want default", pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount)
	}
}
