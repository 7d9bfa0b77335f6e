package nodeagent

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestIPPool(t *testing.T) {
	p := NewIPPool([]netip.Prefix{netip.MustParsePrefix("10.244.3.0/30")}) // .2 is the only usable address
	ips, err := p.Assign("a")
	if err != nil || ips[0].String() != "10.244.3.2" {
		t.Fatalf("Assign = %v %v", ips, err)
	}
	if again, _ := p.Assign("a"); again[0] != ips[0] {
		t.Fatal("a pod's address changed")
	}
	if _, err := p.Assign("b"); err == nil {
		t.Fatal("a full pool handed out an address")
	}
	p.Release("a")
	if ips, err := p.Assign("b"); err != nil || ips[0].String() != "10.244.3.2" {
		t.Fatalf("released address not reusable: %v %v", ips, err)
	}
	dual := NewIPPool([]netip.Prefix{netip.MustParsePrefix("10.244.0.0/24"), netip.MustParsePrefix("fd00:10:244::/64")})
	ips, _ = dual.Assign(types.UID("c"))
	if len(ips) != 2 || !ips[0].Is4() || !ips[1].Is6() {
		t.Fatalf("dual-stack: %v", ips)
	}
}

func TestSimStatus(t *testing.T) {
	now := time.Unix(1e9, 0)
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}},
		ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/gate"}}}}
	ips := []netip.Addr{netip.MustParseAddr("10.244.0.2")}
	st, wait := SimStatus(pod, ips, "127.0.0.1", 2*time.Second, now)
	if wait != 2*time.Second || st.Phase != corev1.PodRunning || st.PodIP != "10.244.0.2" || st.ContainerStatuses[0].Ready {
		t.Fatalf("before ready-after: wait=%v %+v", wait, st)
	}
	pod.Status = st
	st, wait = SimStatus(pod, ips, "127.0.0.1", 2*time.Second, now.Add(3*time.Second))
	ready := func(st corev1.PodStatus) corev1.ConditionStatus {
		for _, c := range st.Conditions {
			if c.Type == corev1.PodReady {
				return c.Status
			}
		}
		return ""
	}
	if wait != 0 || !st.ContainerStatuses[0].Ready || ready(st) != corev1.ConditionFalse {
		t.Fatalf("gate unset must keep the pod unready: %+v", st.Conditions)
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: "example.com/gate", Status: corev1.ConditionTrue})
	pod.Status = st
	st, _ = SimStatus(pod, ips, "127.0.0.1", 2*time.Second, now.Add(4*time.Second))
	if ready(st) != corev1.ConditionTrue {
		t.Fatalf("gate set: %+v", st.Conditions)
	}
}

// TestSimPodsRunToCompletion: a simulated pod with restartPolicy Never or
// OnFailure (a Job's) Succeeds SimRunTime after it is ready; one with
// Always keeps running.
func TestSimPodsRunToCompletion(t *testing.T) {
	now := time.Unix(1e9, 0)
	ips := []netip.Addr{netip.MustParseAddr("10.244.0.2")}
	for _, policy := range []corev1.RestartPolicy{corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure, corev1.RestartPolicyAlways} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: policy, Containers: []corev1.Container{{Name: "c", Image: "img"}}}}
		st, wait := SimStatus(pod, ips, "127.0.0.1", time.Second, now)
		if st.Phase != corev1.PodRunning || wait != time.Second {
			t.Fatalf("%s at start: %s, wait %v", policy, st.Phase, wait)
		}
		pod.Status = st
		st, wait = SimStatus(pod, ips, "127.0.0.1", time.Second, now.Add(time.Second))
		if st.Phase != corev1.PodRunning || !st.ContainerStatuses[0].Ready {
			t.Fatalf("%s when ready: %s", policy, st.Phase)
		}
		if policy != corev1.RestartPolicyAlways && wait != SimRunTime {
			t.Fatalf("%s: wait %v, want the run time", policy, wait)
		}
		pod.Status = st
		st, _ = SimStatus(pod, ips, "127.0.0.1", time.Second, now.Add(time.Second+SimRunTime))
		term := st.ContainerStatuses[0].State.Terminated
		if policy == corev1.RestartPolicyAlways {
			if st.Phase != corev1.PodRunning || term != nil {
				t.Fatalf("Always: %s %+v", st.Phase, term)
			}
			continue
		}
		if st.Phase != corev1.PodSucceeded || term == nil || term.ExitCode != 0 || term.Reason != "Completed" || st.ContainerStatuses[0].Ready {
			t.Fatalf("%s after its run: %s %+v", policy, st.Phase, st.ContainerStatuses[0])
		}
	}
}

func TestPodCapacity(t *testing.T) {
	cases := map[string]int64{"10.244.0.0/24": 253, "10.244.0.0/20": 4093, "fd00::/64": 1<<20 - 2}
	for cidr, want := range cases {
		if got := PodCapacity([]netip.Prefix{netip.MustParsePrefix(cidr)}); got != want {
			t.Errorf("%s: %d, want %d", cidr, got, want)
		}
	}
}

func TestServiceEnv(t *testing.T) {
	svcs := []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "normal-service"}, Spec: corev1.ServiceSpec{ClusterIP: "127.96.0.20",
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}, {Name: "dns-udp", Port: 53, Protocol: corev1.ProtocolUDP}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "headless"}, Spec: corev1.ServiceSpec{ClusterIP: "None", Ports: []corev1.ServicePort{{Port: 80}}}},
	}
	got := map[string]string{}
	for _, e := range ServiceEnv(svcs) {
		got[e.Name] = e.Value
	}
	want := map[string]string{
		"NORMAL_SERVICE_SERVICE_HOST": "127.96.0.20", "NORMAL_SERVICE_SERVICE_PORT": "80",
		"NORMAL_SERVICE_SERVICE_PORT_HTTP": "80", "NORMAL_SERVICE_SERVICE_PORT_DNS_UDP": "53",
		"NORMAL_SERVICE_PORT": "tcp://127.96.0.20:80", "NORMAL_SERVICE_PORT_80_TCP": "tcp://127.96.0.20:80",
		"NORMAL_SERVICE_PORT_80_TCP_PROTO": "tcp", "NORMAL_SERVICE_PORT_80_TCP_PORT": "80", "NORMAL_SERVICE_PORT_80_TCP_ADDR": "127.96.0.20",
		"NORMAL_SERVICE_PORT_53_UDP": "udp://127.96.0.20:53",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "HEADLESS") {
			t.Errorf("a headless Service gave %s", k)
		}
	}
}

// TestRemovalDelaySpreads: pods deleted together are removed at different
// moments, each within half a second after PodRemovalDelay.
func TestRemovalDelaySpreads(t *testing.T) {
	seen := map[time.Duration]bool{}
	for _, uid := range []types.UID{"a", "b", "c", "d", "e", "f", "g", "h"} {
		d := removalDelay(uid)
		if d < PodRemovalDelay || d >= PodRemovalDelay+500*time.Millisecond {
			t.Fatalf("%s: %v out of bounds", uid, d)
		}
		if removalDelay(uid) != d {
			t.Fatalf("%s: not stable", uid)
		}
		seen[d] = true
	}
	if len(seen) < 6 {
		t.Fatalf("only %d distinct delays for 8 pods", len(seen))
	}
}
