package registry

import (
	"context"
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcnet/svcnet/internal/ipalloc"
)

type noKeys struct{}

func (noKeys) ListKeys(context.Context, string) ([]string, error) { return nil, nil }

func strategy(t *testing.T, cidrs string) *ServiceStrategy {
	t.Helper()
	p, err := ipalloc.ParseCIDRs(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	ips, err := ipalloc.New(p, noKeys{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ports, _ := ipalloc.NewPortRange("30000-32767", noKeys{}, 1)
	return &ServiceStrategy{IPs: ips, Ports: ports}
}

func TestServiceDefaults(t *testing.T) {
	cases := []struct {
		name     string
		cidrs    string
		svc      corev1.ServiceSpec
		policy   corev1.IPFamilyPolicy
		families []corev1.IPFamily
		ips      int
	}{
		{"clusterip", "10.96.0.0/12", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}, corev1.IPFamilyPolicySingleStack, []corev1.IPFamily{"IPv4"}, 1},
		{"headless with selector", "10.96.0.0/12", corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"a": "b"}}, corev1.IPFamilyPolicySingleStack, []corev1.IPFamily{"IPv4"}, 0},
		{"prefer dual on dual cluster", "10.96.0.0/12,fd00::/108", corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}, IPFamilyPolicy: ptrTo(corev1.IPFamilyPolicyPreferDualStack)}, corev1.IPFamilyPolicyPreferDualStack, []corev1.IPFamily{"IPv4", "IPv6"}, 2},
		{"headless selectorless dual", "10.96.0.0/12,fd00::/108", corev1.ServiceSpec{ClusterIP: "None"}, corev1.IPFamilyPolicyRequireDualStack, []corev1.IPFamily{"IPv4", "IPv6"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := strategy(t, tc.cidrs)
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Spec: tc.svc}
			s.Default(svc)
			if _, _, err := s.Allocate(context.Background(), svc, nil, 0); err != nil {
				t.Fatal(err)
			}
			if errs := s.Validate(svc); len(errs) > 0 {
				t.Fatalf("defaulted service invalid: %v", errs)
			}
			if *svc.Spec.IPFamilyPolicy != tc.policy || len(svc.Spec.IPFamilies) != len(tc.families) {
				t.Fatalf("policy %v families %v", *svc.Spec.IPFamilyPolicy, svc.Spec.IPFamilies)
			}
			for i, f := range tc.families {
				if svc.Spec.IPFamilies[i] != f {
					t.Fatalf("families %v, want %v", svc.Spec.IPFamilies, tc.families)
				}
			}
			n := 0
			for _, ip := range svc.Spec.ClusterIPs {
				if a, err := netip.ParseAddr(ip); err == nil {
					if r, _ := s.IPs.Range(ipalloc.Family(a)); !r.Contains(a) {
						t.Fatalf("%s outside its range", ip)
					}
					n++
				}
			}
			if n != tc.ips {
				t.Fatalf("allocated %d IPs (%v), want %d", n, svc.Spec.ClusterIPs, tc.ips)
			}
			for _, p := range svc.Spec.Ports {
				if p.Protocol != corev1.ProtocolTCP || p.TargetPort != intstr.FromInt32(p.Port) {
					t.Fatalf("port defaults: %+v", p)
				}
			}
		})
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestServiceAllocateClaimsAndReleases(t *testing.T) {
	s := strategy(t, "10.96.0.0/12")
	old := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.5", ClusterIPs: []string{"10.96.0.5"},
		Ports: []corev1.ServicePort{{Port: 80, Protocol: "TCP", NodePort: 30080}}}}
	// Switching to ExternalName releases the IP and the node port.
	n := old.DeepCopy()
	n.Spec.Type = corev1.ServiceTypeExternalName
	n.Spec.ExternalName = "example.com"
	take, release, err := s.Allocate(context.Background(), n, old, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(take) != 0 || len(release) != 2 || n.Spec.ClusterIP != "" || n.Spec.Ports[0].NodePort != 0 {
		t.Fatalf("take=%v release=%v spec=%+v", take, release, n.Spec)
	}
	// And back: a fresh IP and port are taken.
	back := n.DeepCopy()
	back.Spec.Type = corev1.ServiceTypeNodePort
	s.Default(back)
	take, release, err = s.Allocate(context.Background(), back, n, 0)
	if err != nil || len(take) != 2 || len(release) != 0 {
		t.Fatalf("take=%v release=%v err=%v", take, release, err)
	}
}
