//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// agent is a running `svcnet agent` process.
type agent struct{ cmd *exec.Cmd }

func startAgent(t *testing.T, s *svcnet, name string, extra ...string) *agent {
	t.Helper()
	args := append([]string{"agent", "--kubeconfig", s.kubeconfig, "--node-name", name, "--data-dir", t.TempDir(), "--log-level", "warn"}, extra...)
	a := &agent{cmd: exec.Command(binary, args...)}
	a.cmd.Stdout, a.cmd.Stderr = io.Discard, io.Discard
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.kill)
	return a
}

func (a *agent) kill() {
	if a.cmd.ProcessState == nil {
		_ = a.cmd.Process.Kill()
		_ = a.cmd.Wait()
	}
}

func eventually(t *testing.T, d time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < d {
		if err = f(); err == nil {
			return time.Since(start)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, d, err)
	return 0
}

// podIPsOn lists the active pods' IPs of app=api by node.
func podIPsOn(ctx context.Context, c kubernetes.Interface) (map[string][]string, error) {
	pods, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.PodIP != "" {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p.Status.PodIP)
		}
	}
	return out, nil
}

// TestAgentKilled: kill -9 of an agent whose node runs half of a headless
// Service's pods. Its pods' addresses leave the DNS answer within the
// grace period + 5s; after their tolerationSeconds the pods are replaced on
// the live node; the agent restarted, its node comes back clean.
func TestAgentKilled(t *testing.T) {
	const grace = 10 * time.Second
	s := startSvcnet(t, t.TempDir(), freeAddr(t), "--node-name", "node-1", "--node-monitor-grace-period", grace.String(),
		"--node-monitor-period", "1s", "--node-lease-duration-seconds", "8", "--dns-addr", "127.0.0.1:0")
	dnsAddr := s.dnsAddr(t)
	c := s.client(t)
	ctx := context.Background()
	a := startAgent(t, s, "node-2", "--node-lease-duration-seconds", "8", "--internal-ip", "127.0.0.2")
	eventually(t, 15*time.Second, "node-2 Ready", func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, "node-2", metav1.GetOptions{})
		if err != nil || nodeReady(n) != corev1.ConditionTrue {
			return fmt.Errorf("node-2: %v %v", err, n)
		}
		return nil
	})
	replicas, tolerate := int32(4), int64(5)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "default"}, Spec: appsv1.DeploymentSpec{
		Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "api"}}, Spec: corev1.PodSpec{
			Containers:  []corev1.Container{{Name: "api", Image: "eddiehale/hellonodeapi", Ports: []corev1.ContainerPort{{ContainerPort: 3000}}}},
			Tolerations: []corev1.Toleration{{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &tolerate}},
		}}}}
	if _, err := c.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "headless-service", Namespace: "default"}, Spec: corev1.ServiceSpec{
		ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "api"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(3000)}}}}
	if _, err := c.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	answer := func() []string {
		m := new(mdns.Msg)
		m.SetQuestion("headless-service.default.svc.cluster.local.", mdns.TypeA)
		r, err := mdns.Exchange(m, dnsAddr)
		if err != nil {
			return nil
		}
		var ips []string
		for _, rr := range r.Answer {
			ips = append(ips, rr.(*mdns.A).A.String())
		}
		sort.Strings(ips)
		return ips
	}
	var onDead []string
	eventually(t, 20*time.Second, "4 pods over both nodes in DNS", func() error {
		by, err := podIPsOn(ctx, c)
		if err != nil || len(by["node-1"]) != 2 || len(by["node-2"]) != 2 || len(answer()) != 4 {
			return fmt.Errorf("pods %v, DNS %v", by, answer())
		}
		onDead = by["node-2"]
		return nil
	})

	a.kill()
	left := eventually(t, grace+5*time.Second, "the dead node's addresses leave DNS", func() error {
		got := answer()
		for _, ip := range onDead {
			if slices.Contains(got, ip) {
				return fmt.Errorf("DNS still answers %v", got)
			}
		}
		return nil
	})
	t.Logf("kill -9 of node-2's agent: its pods left DNS after %s (grace %s)", left.Round(time.Millisecond), grace)
	replaced := eventually(t, 30*time.Second, "replacements on node-1 in DNS", func() error {
		by, err := podIPsOn(ctx, c)
		if err != nil || len(by["node-1"]) != 4 || len(by["node-2"]) != 0 || len(answer()) != 4 {
			return fmt.Errorf("pods %v, DNS %v", by, answer())
		}
		return nil
	})
	t.Logf("replaced on node-1 %s after they left DNS (tolerationSeconds %d)", replaced.Round(time.Millisecond), tolerate)

	startAgent(t, s, "node-2", "--node-lease-duration-seconds", "8", "--internal-ip", "127.0.0.2")
	back := eventually(t, 20*time.Second, "node-2 back, untainted, no pods left on it", func() error {
		n, err := c.CoreV1().Nodes().Get(ctx, "node-2", metav1.GetOptions{})
		if err != nil {
			return err
		}
		pods, err := c.CoreV1().Pods("default").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-2"})
		if err != nil {
			return err
		}
		if nodeReady(n) != corev1.ConditionTrue || len(n.Spec.Taints) != 0 || len(pods.Items) != 0 {
			return fmt.Errorf("Ready=%s taints %v, %d pods", nodeReady(n), n.Spec.Taints, len(pods.Items))
		}
		return nil
	})
	t.Logf("node-2 clean %s after its agent restarted", back.Round(time.Millisecond))
}

func nodeReady(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// dnsAddr is where the server's DNS listens (its "dns: ADDR (zone …)" line).
func (s *svcnet) dnsAddr(t *testing.T) string {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		for _, l := range strings.Split(s.out.String(), "\n") {
			if rest, ok := strings.CutPrefix(l, "dns: "); ok {
				return strings.Fields(rest)[0]
			}
		}
	}
	t.Fatalf("the server printed no dns line:\n%s", s.out)
	return ""
}
