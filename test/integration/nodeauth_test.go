package integration

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcnet/svcnet/internal/app"
)

// nodeClient is a client with node's own credentials, as `svcnet token
// create node` makes them.
func nodeClient(t *testing.T, s *server, node string) (kubernetes.Interface, string) {
	t.Helper()
	path, err := app.CreateNodeCredentials(app.TokenOptions{DataDir: s.dataDir, IPs: []string{"127.0.0.1"}, Out: filepath.Join(t.TempDir(), node)}, node, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, path
}

// TestNodeCredentialsAreLeastPrivilege: a node's credentials do what a
// kubelet may, for its own node only, and nothing else.
func TestNodeCredentialsAreLeastPrivilege(t *testing.T) {
	s := startServer(t, serverOpts{controllers: true, nodeName: "node-1"})
	admin := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, admin)
	node2, kubeconfig := nodeClient(t, s, "node-2")
	eventually(t, 10*time.Second, func() error { // the server's own node registers
		_, err := admin.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
		return err
	})

	mustForbid := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want 403", what, err)
		}
	}
	mustAllow := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	_, err := node2.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-x"}}, metav1.CreateOptions{})
	mustForbid("create another Node", err)
	n1, err := node2.CoreV1().Nodes().Get(ctx, "node-1", metav1.GetOptions{})
	mustAllow("read another Node", err)
	if err == nil {
		n1.Labels = map[string]string{"stolen": "yes"}
		_, err = node2.CoreV1().Nodes().Update(ctx, n1, metav1.UpdateOptions{})
		mustForbid("update another Node", err)
	}
	mustForbid("delete another Node", node2.CoreV1().Nodes().Delete(ctx, "node-1", metav1.DeleteOptions{}))
	_, err = node2.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1"}}, metav1.CreateOptions{})
	mustForbid("create another node's Lease", err)
	_, err = node2.CoordinationV1().Leases("default").Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-2"}}, metav1.CreateOptions{})
	mustForbid("a Lease outside kube-node-lease", err)
	_, err = node2.CoreV1().Services(ns).Create(ctx, seedService("s", false), metav1.CreateOptions{})
	mustForbid("create a Service", err)
	_, err = node2.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	mustAllow("list Services", err)
	_, err = node2.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	mustForbid("list Secrets", err)
	// A Secret a pod bound to node-2 uses is node-2's to read; another is not.
	for _, name := range []string{"used", "unused"} {
		if _, err := admin.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	user := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "user"}, Spec: corev1.PodSpec{NodeName: "node-2", Containers: []corev1.Container{{Name: "c", Image: "busybox",
		Env: []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "used"}, Key: "k"}}}}}}}}
	if _, err := admin.CoreV1().Pods(ns).Create(ctx, user, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = node2.CoreV1().Secrets(ns).Get(ctx, "used", metav1.GetOptions{})
	mustAllow("get a Secret its pod uses", err)
	_, err = node2.CoreV1().Secrets(ns).Get(ctx, "unused", metav1.GetOptions{})
	mustForbid("get a Secret none of its pods uses", err)
	_, err = node2.AppsV1().Deployments(ns).Create(ctx, seedDeployment(1), metav1.CreateOptions{})
	mustForbid("create a Deployment", err)

	// The pods of node-1 are not node-2's to write.
	if _, err := admin.AppsV1().Deployments(ns).Create(ctx, seedDeployment(1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pod *corev1.Pod
	eventually(t, 10*time.Second, func() error {
		pods, err := admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
		if err != nil || len(pods.Items) != 1 || pods.Items[0].Spec.NodeName != "node-1" {
			return fmt.Errorf("pods: %v", err)
		}
		pod = &pods.Items[0]
		return nil
	})
	_, err = node2.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	mustForbid("write the status of another node's pod", err)
	mustForbid("delete another node's pod", node2.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}))
	_, err = node2.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: pod.Spec}, metav1.CreateOptions{})
	mustForbid("create a pod", err)
	_, err = node2.CoreV1().Events(ns).Create(ctx, &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e"}, InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "node-2"}, Reason: "Starting"}, metav1.CreateOptions{})
	mustAllow("create an event", err)

	// With the same credentials, node-2's agent does all a node does: it
	// registers, keeps its Lease, runs the pods bound to it and reports them.
	o := app.DefaultAgentOptions()
	o.Kubeconfig, o.NodeName, o.DataDir, o.LogLevel = kubeconfig, "node-2", t.TempDir(), "error"
	actx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunAgent(actx, o, io.Discard, io.Discard) }()
	defer func() { cancel(); <-done }()
	eventually(t, 10*time.Second, func() error {
		n, err := admin.CoreV1().Nodes().Get(ctx, "node-2", metav1.GetOptions{})
		if err != nil || readyOf(n) != corev1.ConditionTrue {
			return fmt.Errorf("node-2: %v", err)
		}
		if _, err := admin.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "node-2", metav1.GetOptions{}); err != nil {
			return err
		}
		return nil
	})
	if _, err := admin.AppsV1().Deployments(ns).Patch(ctx, "api-deployment", "application/merge-patch+json", []byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, func() error {
		by := podsByNode(t, admin, ns, "app=api")
		if len(by["node-2"]) == 0 {
			return fmt.Errorf("pods by node %v", by)
		}
		for _, ip := range by["node-2"] {
			if ip == "" {
				return fmt.Errorf("a pod on node-2 without an IP: %v", by)
			}
		}
		return nil
	})
}
