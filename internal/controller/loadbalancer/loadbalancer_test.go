package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"github.com/svcnet/svcnet/internal/testutil"
)

func lbService(name string, mutate func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}}}
	if mutate != nil {
		mutate(s)
	}
	return s
}

func TestLoadBalancerAddresses(t *testing.T) {
	other := "example.com/other"
	client := fake.NewClientset(
		lbService("kept", func(s *corev1.Service) { // holds an address from before a restart
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "127.98.0.1"}}
		}),
		lbService("theirs", func(s *corev1.Service) { s.Spec.LoadBalancerClass = &other }),
	)
	recorder := record.NewFakeRecorder(100)
	factory := informers.NewSharedInformerFactory(client, 0)
	c := New(client, factory.Core().V1().Services(), NewPool([]netip.Prefix{netip.MustParsePrefix("127.98.0.0/30")}), recorder, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	go func() { _ = c.Run(ctx) }()

	ingress := func(name string) string {
		s, err := client.CoreV1().Services("ns").Get(ctx, name, metav1.GetOptions{})
		if err != nil || len(s.Status.LoadBalancer.Ingress) == 0 {
			return ""
		}
		in := s.Status.LoadBalancer.Ingress[0]
		if in.IPMode == nil || *in.IPMode != corev1.LoadBalancerIPModeVIP {
			return in.IP + " (no ipMode VIP)"
		}
		return in.IP
	}
	want := func(name, ip string) {
		t.Helper()
		testutil.Eventually(t, 5*time.Second, name+" "+ip, func() error {
			if got := ingress(name); got != ip {
				return fmt.Errorf("%s has %q, want %q", name, got, ip)
			}
			return nil
		})
	}
	want("kept", "127.98.0.1")
	create := func(s *corev1.Service) {
		if _, err := client.CoreV1().Services("ns").Create(ctx, s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(lbService("a", nil))
	want("a", "127.98.0.2") // .1 is kept's: not handed out twice
	create(lbService("asks", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "127.98.0.3" }))
	want("asks", "127.98.0.3")
	create(lbService("full", nil))
	testutil.Eventually(t, 5*time.Second, "an exhausted pool is an event", func() error {
		for {
			select {
			case e := <-recorder.Events:
				if strings.Contains(e, "AllocationFailed") {
					return nil
				}
			default:
				return errors.New("no AllocationFailed event")
			}
		}
	})
	if got := ingress("theirs"); got != "" {
		t.Fatalf("a Service of another loadBalancerClass got %q", got)
	}
	// a turns into a ClusterIP Service: its address goes back; full gets it.
	s, _ := client.CoreV1().Services("ns").Get(ctx, "a", metav1.GetOptions{})
	s.Spec.Type = corev1.ServiceTypeClusterIP
	if _, err := client.CoreV1().Services("ns").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	want("a", "")
	want("full", "127.98.0.2") // waiting for an address, it gets the freed one
	// Deleted, asks frees its address too.
	if err := client.CoreV1().Services("ns").Delete(ctx, "asks", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	create(lbService("next", nil))
	want("next", "127.98.0.3")
}

func TestDualStackAddresses(t *testing.T) {
	pool := NewPool([]netip.Prefix{netip.MustParsePrefix("127.98.0.0/30"), netip.MustParsePrefix("fd00:98::/126")})
	c := &Controller{pool: pool}
	svc := lbService("dual", func(s *corev1.Service) {
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
	})
	got, err := c.addresses(svc, "ns/dual")
	if err != nil || len(got) != 2 || !got[0].Is6() || !got[1].Is4() {
		t.Fatalf("addresses %v, %v: want one IPv6 then one IPv4", got, err)
	}
	// A pool without the Service's family: a clear error, no address.
	v4only := &Controller{pool: NewPool([]netip.Prefix{netip.MustParsePrefix("127.98.0.0/30")})}
	if _, err := v4only.addresses(lbService("six", func(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }), "ns/six"); err == nil ||
		!strings.Contains(err.Error(), "no address of the Service's families") {
		t.Fatalf("an IPv6 Service from an IPv4 pool: %v", err)
	}
}
