//go:build chaos

package chaos

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// outage is longer than it takes client-go's default reflector backoff to
// reach its 30s cap: with it, the DNS stayed stale up to a minute after
// the API's return.
const outage = 35 * time.Second

// TestDNSAfterAnAPIOutage: `svcnet dns` follows a server that dies (kill
// -9) and comes back after a long outage. Meanwhile it answers from what it
// last saw and says so (/ready, svcnet_dns_unsynced_seconds); once the API
// is back, a new Service is answered within 5s.
func TestDNSAfterAnAPIOutage(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	s := startSvcnet(t, dir, addr)
	c := s.client(t)
	ctx := context.Background()
	svc := func(name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	}
	before, err := c.CoreV1().Services("default").Create(ctx, svc("before"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dnsAddr, metricsAddr := freeAddr(t), freeAddr(t)
	dns := exec.Command(binary, "dns", "--kubeconfig", s.kubeconfig, "--dns-addr", dnsAddr, "--metrics-addr", metricsAddr)
	stdout, _ := dns.StdoutPipe()
	dnsLog := &lockedBuffer{}
	dns.Stderr = dnsLog
	if err := dns.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dns.Process.Kill(); _ = dns.Wait() })
	synced := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "dns: ") {
				close(synced)
			}
		}
	}()
	select {
	case <-synced:
	case <-time.After(30 * time.Second):
		t.Fatalf("svcnet dns did not sync\n%s", dnsLog)
	}
	lookup := func(name string) string {
		m := new(mdns.Msg)
		m.SetQuestion(name+".default.svc.cluster.local.", mdns.TypeA)
		r, err := mdns.Exchange(m, dnsAddr)
		if err != nil || len(r.Answer) == 0 {
			return ""
		}
		return r.Answer[0].(*mdns.A).A.String()
	}
	if got := lookup("before"); got != before.Spec.ClusterIP {
		t.Fatalf("before the outage: %q, want %s", got, before.Spec.ClusterIP)
	}

	s.kill()
	time.Sleep(outage)
	if got := lookup("before"); got != before.Spec.ClusterIP {
		t.Errorf("during the outage: %q, want the last answer %s", got, before.Spec.ClusterIP)
	}
	ready := httpGet(t, "http://"+metricsAddr+"/ready")
	if !strings.Contains(ready, "not in step with the API for") {
		t.Errorf("/ready during the outage says %q, want how long it has not followed the API", ready)
	}
	if v := metricValue(t, "http://"+metricsAddr+"/metrics", "svcnet_dns_unsynced_seconds"); v < (outage - 5*time.Second).Seconds() {
		t.Errorf("svcnet_dns_unsynced_seconds %v during a %s outage", v, outage)
	}

	s = startSvcnet(t, dir, addr)
	back := time.Now()
	after, err := s.client(t).CoreV1().Services("default").Create(ctx, svc("after"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for lookup("after") != after.Spec.ClusterIP {
		if time.Since(back) > 30*time.Second {
			t.Fatalf("a Service created after the API's return is not answered 30s later\n%s", dnsLog)
		}
		time.Sleep(100 * time.Millisecond)
	}
	inStep := time.Since(back)
	t.Logf("after a %s outage, a new Service answered %s after the API's return", outage, inStep.Round(time.Millisecond))
	if inStep > 5*time.Second {
		t.Errorf("back in step after %s, want within 5s", inStep)
	}
	// Every kind (Services, EndpointSlices, Namespaces) back within 5s.
	for ready := ""; ready != "OK"; time.Sleep(100 * time.Millisecond) {
		if ready = httpGet(t, "http://"+metricsAddr+"/ready"); ready != "OK" && time.Since(back) > 5*time.Second {
			t.Fatalf("/ready 5s after the API's return: %q", ready)
		}
	}
	t.Logf("/ready in step %s after the API's return", time.Since(back).Round(time.Millisecond))
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// metricValue reads one unlabelled metric from a Prometheus text page.
func metricValue(t *testing.T, url, name string) float64 {
	t.Helper()
	for _, l := range strings.Split(httpGet(t, url), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return f
		}
	}
	t.Fatalf("%s has no %s", url, name)
	return 0
}
