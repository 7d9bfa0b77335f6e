package integration

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/svcnet/svcnet/internal/app"
	"github.com/svcnet/svcnet/internal/controller/nodelifecycle"
)

// runAgent runs `svcnet agent` in-process (simulated pods) until the
// returned stop is called; stopping it leaves its node silent, as a killed
// agent does.
func runAgent(t *testing.T, s *server, name string) (stop func()) {
	t.Helper()
	o := app.DefaultAgentOptions()
	o.Kubeconfig, o.NodeName, o.InternalIP, o.DataDir, o.LogLevel = s.started.Kubeconfig, name, "127.0.0.2", t.TempDir(), "error"
	o.Node.LeaseDurationSeconds = 4 // renewed every second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.RunAgent(ctx, o, io.Discard, io.Discard) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("agent %s: %v", name, err)
			}
		}
	}
	t.Cleanup(stop)
	return stop
}

func nodeOf(t *testing.T, c kubernetes.Interface, name string) *corev1.Node {
	t.Helper()
	n, err := c.CoreV1().Nodes().Get(ctxT(t), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func readyOf(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

func taintKeys(n *corev1.Node) []string {
	var out []string
	for _, t := range n.Spec.Taints {
		out = append(out, t.Key+":"+string(t.Effect))
	}
	slices.Sort(out)
	return out
}

// podsByNode: the active pods of selector, by node.
func podsByNode(t *testing.T, c kubernetes.Interface, ns, selector string) map[string][]string {
	t.Helper()
	pods, err := c.CoreV1().Pods(ns).List(ctxT(t), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Status.PodIP)
		}
	}
	return out
}

func events(t *testing.T, c kubernetes.Interface, ns, reason string) []corev1.Event {
	t.Helper()
	list, err := c.CoreV1().Events(ns).List(ctxT(t), metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("reason", reason).String()})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// TestDeadNodeIsNoticedAndItsPodsReplaced: an agent stops (its node falls
// silent). Within the grace period its node is Ready=Unknown and tainted
// unreachable, its pods are not ready (gone from the Service's ready
// endpoints); after their tolerationSeconds they are evicted and replaced
// on the live node; when the agent returns the taints go.
func TestDeadNodeIsNoticedAndItsPodsReplaced(t *testing.T) {
	const grace = 3 * time.Second
	s := startServer(t, serverOpts{controllers: true, nodeName: "live",
		nodes: &nodelifecycle.Config{MonitorPeriod: 500 * time.Millisecond, GracePeriod: grace, StartupGracePeriod: grace}})
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	stopGhost := runAgent(t, s, "ghost")
	eventually(t, 10*time.Second, func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, "ghost", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if st := readyOf(n); st != corev1.ConditionTrue {
			return fmt.Errorf("ghost is %q", st)
		}
		return nil
	})
	d := seedDeployment(4)
	tolerate := int64(2)
	d.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &tolerate}}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services(ns).Create(ctx, seedService("headless-service", true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var ghostIPs []string
	eventually(t, 10*time.Second, func() error {
		by := podsByNode(t, c, ns, "app=api")
		if len(by["ghost"]) != 2 || len(by["live"]) != 2 || len(readyAddresses(t, c, ns, "headless-service")) != 4 {
			return fmt.Errorf("pods by node %v, ready endpoints %v", by, readyAddresses(t, c, ns, "headless-service"))
		}
		ghostIPs = by["ghost"]
		return nil
	})

	stopGhost()
	died := time.Now()
	eventually(t, grace+5*time.Second, func() error {
		ready := readyAddresses(t, c, ns, "headless-service")
		for _, ip := range ghostIPs {
			if slices.Contains(ready, ip) {
				return fmt.Errorf("the dead node's %s is still a ready endpoint: %v", ip, ready)
			}
		}
		return nil
	})
	t.Logf("the dead node's pods left the ready endpoints %s after it died (grace %s)", time.Since(died).Round(time.Millisecond), grace)
	// They left because their Ready condition was patched False; the rest
	// of their status (which the controllers' trimmed copies do not hold)
	// is as the agent wrote it.
	ghostPods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=ghost"})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, p := range ghostPods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		checked++
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status != corev1.ConditionFalse {
				t.Errorf("pod %s on the dead node is Ready=%s", p.Name, cond.Status)
			}
		}
		if p.Status.PodIP == "" || p.Status.HostIP == "" || len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].ImageID == "" {
			t.Errorf("pod %s lost status fields when marked not ready: %+v", p.Name, p.Status)
		}
	}
	t.Logf("%d of the dead node's pods checked before their eviction", checked)
	n := nodeOf(t, c, "ghost")
	if readyOf(n) != corev1.ConditionUnknown {
		t.Fatalf("ghost is Ready=%s, want Unknown", readyOf(n))
	}
	eventually(t, 5*time.Second, func() error {
		want := []string{"node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unreachable:NoSchedule"}
		if got := taintKeys(nodeOf(t, c, "ghost")); !slices.Equal(got, want) {
			return fmt.Errorf("taints %v, want %v", got, want)
		}
		return nil
	})
	// After the 2s toleration: evicted, replaced on the live node.
	eventually(t, 15*time.Second, func() error {
		by := podsByNode(t, c, ns, "app=api")
		if len(by["live"]) != 4 || len(by["ghost"]) != 0 || len(readyAddresses(t, c, ns, "headless-service")) != 4 {
			return fmt.Errorf("pods by node %v, ready endpoints %v", by, readyAddresses(t, c, ns, "headless-service"))
		}
		return nil
	})
	t.Logf("replaced on the live node %s after the node died", time.Since(died).Round(time.Millisecond))
	if ev := events(t, c, "", "NodeNotReady"); !slices.ContainsFunc(ev, func(e corev1.Event) bool { return e.InvolvedObject.Kind == "Node" && e.InvolvedObject.Name == "ghost" }) {
		t.Errorf("no NodeNotReady event for the node: %v", ev)
	}
	if ev := events(t, c, ns, "TaintManagerEviction"); len(ev) < 2 || !strings.Contains(ev[0].Message, "Marking for deletion Pod") {
		t.Errorf("TaintManagerEviction events: %v", ev)
	}

	// The agent returns: the node is Ready and untainted; its evicted pods
	// (terminating while it was away) are gone.
	runAgent(t, s, "ghost")
	eventually(t, 10*time.Second, func() error {
		n := nodeOf(t, c, "ghost")
		if readyOf(n) != corev1.ConditionTrue || len(n.Spec.Taints) != 0 {
			return fmt.Errorf("ghost Ready=%s taints %v", readyOf(n), taintKeys(n))
		}
		pods, _ := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=ghost"})
		if len(pods.Items) != 0 {
			return fmt.Errorf("%d pods still on ghost", len(pods.Items))
		}
		return nil
	})
}
