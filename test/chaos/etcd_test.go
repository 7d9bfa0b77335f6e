//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// requestTimeout is the server's --request-timeout in these tests (60s by
// default, as kube-apiserver's).
const requestTimeout = 5 * time.Second

// TestServerKilledDuringCreates: kill -9 of the server (with its embedded
// etcd) while a client creates objects, three times over; every create the
// API acknowledged is there after each restart.
func TestServerKilledDuringCreates(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	w := &writer{}
	for run := 0; run < 3; run++ {
		s := startSvcnet(t, dir, addr)
		c := s.client(t)
		if missing := w.missing(t, c); len(missing) > 0 {
			t.Fatalf("run %d: %d acknowledged creates lost, e.g. %v", run, len(missing), missing[:min(5, len(missing))])
		}
		before := w.count()
		done := make(chan struct{})
		go func() {
			defer close(done)
			w.run(context.Background(), c, "run"+string(rune('a'+run)), true)
		}()
		// Kill it in the middle of the stream.
		deadline := time.Now().Add(30 * time.Second)
		for w.count() < before+100 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		s.kill()
		<-done
		t.Logf("run %d: %d creates acknowledged before kill -9", run, w.count()-before)
		if w.count() == before {
			t.Fatalf("run %d: no create was acknowledged", run)
		}
	}
	s := startSvcnet(t, dir, addr)
	if missing := w.missing(t, s.client(t)); len(missing) > 0 {
		t.Fatalf("%d acknowledged creates lost, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
}

// TestEtcdLeaderKilledDuringWrites: the etcd leader of a three-member
// cluster dies under four streams of creates. No acknowledged create is
// lost and creates succeed again within 5s.
func TestEtcdLeaderKilledDuringWrites(t *testing.T) {
	etcd := startEtcdCluster(t, 3)
	s := startSvcnet(t, t.TempDir(), freeAddr(t), "--etcd-servers", etcd.endpoints(), "--request-timeout", requestTimeout.String())
	c := s.client(t)
	w := &writer{}
	ctx, cancel := context.WithCancel(context.Background())
	// Four writers: a write in flight to the dying leader hangs until its
	// request times out (as it would in Kubernetes); the others show when
	// writes are back.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx, c, fmt.Sprintf("w%d", i), false) }()
	}
	for w.count() < 50 {
		time.Sleep(10 * time.Millisecond)
	}
	leader := etcd.leader(t)
	killed := time.Now()
	etcd.kill(leader)
	// Write on for 10s: long enough for any stall to show.
	time.Sleep(time.Until(killed.Add(10 * time.Second)))
	cancel()
	wg.Wait()
	gap := w.longestGapAfter(killed)
	t.Logf("leader m%d killed: longest time without an acknowledged create %s; %d acknowledged after, %d failed", leader, gap.Round(time.Millisecond), w.acksAfter(killed), w.fails)
	if w.acksAfter(killed) == 0 {
		t.Fatalf("no create succeeded after the leader's death\n%s", s.out)
	}
	if gap > 5*time.Second {
		t.Errorf("creates stalled %s, want back within 5s", gap)
	}
	if missing := w.missing(t, c); len(missing) > 0 {
		t.Fatalf("%d acknowledged creates lost, e.g. %v", len(missing), missing[:min(5, len(missing))])
	}
}

// TestEtcdQuorumLost: two of three etcd members die. Every request ends
// within the request timeout with an error Status, /readyz fails within
// 10s while /livez stays ok, and once the members return everything
// recovers by itself.
func TestEtcdQuorumLost(t *testing.T) {
	etcd := startEtcdCluster(t, 3)
	s := startSvcnet(t, t.TempDir(), freeAddr(t), "--etcd-servers", etcd.endpoints(), "--request-timeout", requestTimeout.String())
	c := s.client(t)
	ctx := context.Background()
	for _, name := range []string{"kept", "victim"} {
		if _, err := c.CoordinationV1().Leases("default").Create(ctx, lease(name), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if code, body := s.health("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz %d %s before the fault", code, body)
	}
	etcd.kill(1)
	etcd.kill(2)
	lost := time.Now()

	requests := map[string]func() error{
		"get": func() error {
			_, err := c.CoordinationV1().Leases("default").Get(ctx, "kept", metav1.GetOptions{})
			return err
		},
		"list": func() error {
			_, err := c.CoordinationV1().Leases("default").List(ctx, metav1.ListOptions{})
			return err
		},
		"create": func() error {
			_, err := c.CoordinationV1().Leases("default").Create(ctx, lease("during"), metav1.CreateOptions{})
			return err
		},
		"delete": func() error {
			// A write that timed out may still commit once quorum is back
			// (as in Kubernetes): the test reads nothing of victim after.
			return c.CoordinationV1().Leases("default").Delete(ctx, "victim", metav1.DeleteOptions{})
		},
	}
	var wg sync.WaitGroup
	for verb, do := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			err := do()
			took := time.Since(start)
			t.Logf("%s without quorum: %s after %s", verb, err, took.Round(time.Millisecond))
			if err == nil {
				t.Errorf("%s succeeded without quorum", verb)
			} else if code := apiCode(err); code != http.StatusGatewayTimeout {
				t.Errorf("%s: code %d (%v), want kube-apiserver's 504 Timeout", verb, code, err)
			}
			if took > requestTimeout+3*time.Second {
				t.Errorf("%s took %s, want within the request timeout %s", verb, took, requestTimeout)
			}
		}()
	}

	var unready time.Duration
	for time.Since(lost) < 15*time.Second {
		if code, _ := s.health("/readyz"); code != http.StatusOK {
			unready = time.Since(lost)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if unready == 0 || unready > 10*time.Second {
		t.Errorf("/readyz still ok %s after quorum was lost, want a failure within 10s", time.Since(lost).Round(time.Millisecond))
	} else {
		t.Logf("/readyz failed %s after quorum was lost", unready.Round(time.Millisecond))
	}
	if code, body := s.health("/livez"); code != http.StatusOK {
		t.Errorf("/livez %d %s without quorum, want ok (the process is alive)", code, body)
	}
	wg.Wait()

	etcd.start(1, "existing")
	etcd.start(2, "existing")
	back := time.Now()
	var ready time.Duration
	for time.Since(back) < 30*time.Second {
		if code, _ := s.health("/readyz"); code == http.StatusOK {
			ready = time.Since(back)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if ready == 0 {
		t.Fatalf("/readyz not ok 30s after the members returned\n%s", s.out)
	}
	t.Logf("/readyz ok %s after the members returned", ready.Round(time.Millisecond))
	if _, err := c.CoordinationV1().Leases("default").Create(ctx, lease("after"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create after recovery: %v", err)
	}
	if _, err := c.CoordinationV1().Leases("default").Get(ctx, "kept", metav1.GetOptions{}); err != nil {
		t.Fatalf("the Lease written before the fault: %v", err)
	}
}

func apiCode(err error) int32 {
	if st, ok := err.(apierrors.APIStatus); ok {
		return st.Status().Code
	}
	return 0
}

// TestRestartThenScale: a server stopped cleanly and started again on the
// same data acts on a scale at once: the controllers' Lease was released,
// so the new process leads without waiting for it to expire.
func TestRestartThenScale(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	s := startSvcnet(t, dir, addr, "--node-name", "node-1")
	c := s.client(t)
	ctx := context.Background()
	replicas := int32(2)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: appsv1.DeploymentSpec{
		Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}}}}}
	if _, err := c.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	readyReplicas := func(c kubernetes.Interface) int32 {
		d, err := c.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return -1
		}
		return d.Status.ReadyReplicas
	}
	eventually(t, 20*time.Second, "2 ready", func() error {
		if n := readyReplicas(c); n != 2 {
			return fmt.Errorf("%d ready", n)
		}
		return nil
	})
	s.stop(t)
	s = startSvcnet(t, dir, addr, "--node-name", "node-1")
	c = s.client(t)
	start := time.Now()
	if _, err := c.AppsV1().Deployments("default").Patch(ctx, "web", types.MergePatchType, []byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 30*time.Second, "4 ready after the restart", func() error {
		if n := readyReplicas(c); n != 4 {
			return fmt.Errorf("%d ready", n)
		}
		return nil
	})
	t.Logf("restart, then scale 2 ▶ 4: ready after %s", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("the scale took %s after the restart, want within 5s", time.Since(start))
	}
	if strings.Contains(s.out.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", s.out)
	}
}
