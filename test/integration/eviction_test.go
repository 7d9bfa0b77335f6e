package integration

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestEvictionAndDisruptionBudgets(t *testing.T) {
	s := startServer(t, serverOpts{controllers: true, nodeName: "node-1"})
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, seedDeployment(3), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	min2 := intstr.FromInt32(2)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "api"}, Spec: policyv1.PodDisruptionBudgetSpec{
		MinAvailable: &min2, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}}}
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		b, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "api", metav1.GetOptions{})
		if err != nil || b.Status.CurrentHealthy != 3 || b.Status.DesiredHealthy != 2 || b.Status.DisruptionsAllowed != 1 || b.Status.ExpectedPods != 3 {
			return fmt.Errorf("status %+v %v", b.Status, err)
		}
		return nil
	})
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
	if err != nil || len(pods.Items) != 3 {
		t.Fatalf("pods: %v %d", err, len(pods.Items))
	}
	evict := func(name string) error {
		return c.PolicyV1().Evictions(ns).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	}
	// The one disruption allowed is spent; the next eviction is refused
	// with kube-apiserver's 429 and cause.
	if err := evict(pods.Items[0].Name); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	err = evict(pods.Items[1].Name)
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("second eviction: %v, want 429", err)
	}
	st := err.(apierrors.APIStatus).Status()
	if st.Message != "Cannot evict pod as it would violate the pod's disruption budget." || st.Details == nil || len(st.Details.Causes) != 1 ||
		st.Details.Causes[0].Type != policyv1.DisruptionBudgetCause {
		t.Fatalf("status %+v", st)
	}
	if _, err := c.CoreV1().Pods(ns).Get(ctx, pods.Items[1].Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("the refused pod: %v", err)
	}
	// The replacement becomes ready: one disruption is allowed again.
	eventually(t, 10*time.Second, func() error {
		if err := evict(pods.Items[1].Name); err != nil {
			return err
		}
		return nil
	})

	// A pod no budget covers is simply deleted.
	lone := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "lone"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, lone, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := evict("lone"); err != nil {
		t.Fatalf("evicting a pod without a budget: %v", err)
	}
	// Bad requests.
	if err := evict("missing"); !apierrors.IsNotFound(err) {
		t.Fatalf("evicting a missing pod: %v", err)
	}
	err = c.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name(pods.Items[2].Name).SubResource("eviction").
		Body(&policyv1.Eviction{TypeMeta: metav1.TypeMeta{Kind: "Eviction", APIVersion: "policy/v1"}, ObjectMeta: metav1.ObjectMeta{Name: "other"}}).Do(ctx).Error()
	if !apierrors.IsBadRequest(err) {
		t.Fatalf("a name that does not match: %v", err)
	}
	both := pdb.DeepCopy()
	both.Name, both.Spec.MaxUnavailable = "both", &min2
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, both, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("minAvailable and maxUnavailable both: %v", err)
	}
	pct := intstr.FromString("101%")
	bad := pdb.DeepCopy()
	bad.Name, bad.Spec.MinAvailable = "bad", &pct
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, bad, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("minAvailable 101%%: %v", err)
	}
}
