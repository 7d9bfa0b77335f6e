package process

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/svcnet/svcnet/internal/testutil"
)

// syncUntil syncs p until done says so (or fails t after 10 s), feeding
// each status back as the agent would.
func syncUntil(t *testing.T, r *Runtime, p *corev1.Pod, synced chan struct{}, done func(corev1.PodStatus) bool) corev1.PodStatus {
	t.Helper()
	ips := []netip.Addr{netip.MustParseAddr("127.244.0.30")}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		st, wait := r.Sync(p, ips, "127.0.0.1", time.Now())
		p.Status = st
		if done(st) {
			return st
		}
		select {
		case <-synced:
		case <-time.After(wait + 50*time.Millisecond):
		}
	}
	t.Fatalf("pod status never came: %+v", p.Status)
	return p.Status
}

func condition(st corev1.PodStatus, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// TestInitContainersRunInOrder: init containers run one at a time to
// success before the app container; a failing one is retried until it
// succeeds; a sidecar keeps running beside the app container.
func TestInitContainersRunInOrder(t *testing.T) {
	synced := make(chan struct{}, 100)
	r := newRuntime(t, func(string, string) { synced <- struct{}{} })
	dir := t.TempDir()
	order := filepath.Join(dir, "order")
	sh := func(name, script string) corev1.Container {
		return corev1.Container{Name: name, Image: "x", Command: []string{"/bin/sh", "-c", script}, WorkingDir: dir}
	}
	sidecar := sh("sidecar", "echo sidecar >> order; exec sleep 30")
	sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", UID: "init-1"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyAlways,
			InitContainers: []corev1.Container{
				sh("first", "echo first >> order"),
				// fails until its second try
				sh("second", "echo second >> order; [ -f tried ] && exit 0; touch tried; exit 1"),
				sidecar,
			},
			Containers: []corev1.Container{sh("main", "echo main >> order; exec sleep 30")}}}

	st := syncUntil(t, r, p, synced, func(st corev1.PodStatus) bool {
		return st.Phase == corev1.PodPending && len(st.InitContainerStatuses) == 3
	})
	if condition(st, corev1.PodInitialized) != corev1.ConditionFalse || st.ContainerStatuses[0].State.Waiting == nil ||
		st.ContainerStatuses[0].State.Waiting.Reason != "PodInitializing" {
		t.Fatalf("while initializing: %+v %+v", st.Conditions, st.ContainerStatuses[0].State)
	}
	st = syncUntil(t, r, p, synced, func(st corev1.PodStatus) bool {
		return len(st.ContainerStatuses) == 1 && st.ContainerStatuses[0].State.Running != nil
	})
	if condition(st, corev1.PodInitialized) != corev1.ConditionTrue || st.Phase != corev1.PodRunning {
		t.Fatalf("initialized: phase %s %+v", st.Phase, st.Conditions)
	}
	ics := st.InitContainerStatuses
	if ics[0].State.Terminated == nil || ics[0].State.Terminated.ExitCode != 0 || ics[1].RestartCount != 1 || ics[2].State.Running == nil {
		t.Fatalf("init statuses: %+v", ics)
	}
	testutil.Eventually(t, 5*time.Second, "the containers' order", func() error {
		b, _ := os.ReadFile(order)
		if got := strings.Join(strings.Fields(string(b)), " "); got != "first second second sidecar main" {
			return errors.New(got)
		}
		return nil
	})
	// Never: a failing init container fails the pod.
	q := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "once", Namespace: "ns", UID: "init-2"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, InitContainers: []corev1.Container{sh("bad", "exit 2")},
			Containers: []corev1.Container{sh("main", "exit 0")}}}
	st = syncUntil(t, r, q, synced, func(st corev1.PodStatus) bool { return st.Phase == corev1.PodFailed })
	if term := st.InitContainerStatuses[0].State.Terminated; term == nil || term.ExitCode != 2 {
		t.Fatalf("failed init: %+v", st.InitContainerStatuses[0])
	}
	for _, pod := range []*corev1.Pod{p, q} {
		testutil.Eventually(t, 5*time.Second, "the pod to stop", func() error {
			if !r.Stop(pod, time.Now()) {
				return errors.New("processes still running")
			}
			return nil
		})
	}
}
