package kube

import (
	"context"
	"reflect"
	"testing"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func TestTrimForControllers(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	at := metav1.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	full := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "api-1", Namespace: string([]byte("default")), Labels: map[string]string{"app": "api"},
				GenerateName: "api-", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: string([]byte("api-7c")), UID: "u1"}}},
			Spec: corev1.PodSpec{
				NodeName: "node-1", Hostname: "h", Subdomain: "s", NodeSelector: map[string]string{"zone": "a"},
				Tolerations:     []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
				SecurityContext: &corev1.PodSecurityContext{},
				Volumes: []corev1.Volume{
					{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{}}},
					{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data-0"}}},
				},
				InitContainers: []corev1.Container{{Name: "init", Image: "busybox", Command: []string{"true"}, RestartPolicy: &always}},
				Containers: []corev1.Container{{
					Name: "api", Image: "api:1", Command: []string{"serve"}, Env: []corev1.EnvVar{{Name: "A", Value: "1"}},
					Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 3000}},
					Resources:      corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
					VolumeMounts:   []corev1.VolumeMount{{Name: "token", MountPath: "/var/run"}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(3000)}}},
				}},
			},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}}, HostIP: "192.0.2.1", QOSClass: corev1.PodQOSBurstable,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastProbeTime: at, LastTransitionTime: at}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "api", Ready: true, RestartCount: 2, Image: "api:1",
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
		}
	}
	got, err := TrimForControllers(full())
	if err != nil {
		t.Fatal(err)
	}
	p := got.(*corev1.Pod)
	want := full()
	want.ManagedFields, want.GenerateName = nil, ""
	want.Spec.SecurityContext = nil
	want.Spec.Volumes = want.Spec.Volumes[1:]
	want.Spec.InitContainers = []corev1.Container{{Name: "init", RestartPolicy: &always}}
	c := want.Spec.Containers[0]
	want.Spec.Containers = []corev1.Container{{Name: c.Name, Ports: c.Ports, Resources: c.Resources}}
	want.Status.ContainerStatuses[0].State.Running = nil
	want.Status.ContainerStatuses[0].Image, want.Status.HostIP, want.Status.QOSClass = "", "", ""
	want.Status.Conditions[0].LastProbeTime = metav1.Time{}
	if !apiequality.Semantic.DeepEqual(p, want) {
		t.Fatalf("trimmed pod:\n got %+v\nwant %+v", p, want)
	}
	// Pods of one owner share their label set and strings.
	q := trimmed(t, full())
	if reflect.ValueOf(q.Labels).UnsafePointer() != reflect.ValueOf(p.Labels).UnsafePointer() {
		t.Error("equal label sets not shared")
	}
	if unsafe.StringData(q.Namespace) != unsafe.StringData(p.Namespace) || unsafe.StringData(q.OwnerReferences[0].Name) != unsafe.StringData(p.OwnerReferences[0].Name) {
		t.Error("namespace or owner strings not interned")
	}

	// A pod without claims keeps no volumes; other kinds lose only managedFields.
	bare := full()
	bare.Spec.Volumes = bare.Spec.Volumes[:1]
	if got, _ := TrimForControllers(bare); got.(*corev1.Pod).Spec.Volumes != nil {
		t.Fatalf("volumes left: %+v", got.(*corev1.Pod).Spec.Volumes)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "m"}}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "api"}}}
	got, _ = TrimForControllers(svc)
	if s := got.(*corev1.Service); s.ManagedFields != nil || s.Spec.Selector["app"] != "api" {
		t.Fatalf("service trimmed wrongly: %+v", s)
	}
}

// The pods of one template share what is kept of their containers and
// tolerations; a pod whose containers differ (resized in place), or of
// another template, keeps its own.
func TestTrimSharesTemplates(t *testing.T) {
	pod := func(owner types.UID, hash, cpu string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", Labels: map[string]string{"pod-template-hash": hash},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: owner, Controller: ptr.To(true)}}},
			Spec: corev1.PodSpec{
				Tolerations: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, TolerationSeconds: ptr.To[int64](300)}},
				Containers: []corev1.Container{{Name: "api", Ports: []corev1.ContainerPort{{ContainerPort: 3000}},
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}}}},
			},
		}
	}
	same := func(a, b *corev1.Pod) bool {
		return &a.Spec.Containers[0] == &b.Spec.Containers[0] && &a.Spec.Tolerations[0] == &b.Spec.Tolerations[0]
	}
	a := trimmed(t, pod("u-rs1", "h1", "100m"))
	b := trimmed(t, pod("u-rs1", "h1", "100m"))
	if !same(a, b) {
		t.Error("two pods of one template do not share their containers and tolerations")
	}
	resized := trimmed(t, pod("u-rs1", "h1", "200m"))
	other := trimmed(t, pod("u-rs2", "h1", "100m"))
	if same(a, resized) || same(a, other) {
		t.Error("shared with a pod of other containers or another owner")
	}
	if q := resized.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; q.String() != "200m" {
		t.Errorf("the resized pod reads %s", q.String())
	}
	if q := b.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU]; q.String() != "100m" || b.Spec.Containers[0].Ports[0].ContainerPort != 3000 {
		t.Errorf("the shared containers read %s %v", q.String(), b.Spec.Containers[0].Ports)
	}
	// Without an owner or a template hash nothing is shared.
	lone := pod("u-rs1", "h1", "100m")
	lone.OwnerReferences = nil
	if same(a, trimmed(t, lone)) {
		t.Error("an ownerless pod shared its template")
	}
}

func trimmed(t *testing.T, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	got, err := TrimForControllers(p)
	if err != nil {
		t.Fatal(err)
	}
	return got.(*corev1.Pod)
}

func TestTrimForCollector(t *testing.T) {
	now := metav1.Now()
	m := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u", ResourceVersion: "7", Labels: map[string]string{"a": "b"},
			Annotations: map[string]string{"x": "y"}, DeletionTimestamp: &now, Finalizers: []string{"f"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "o"}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "m"}}}}
	got, err := TrimForCollector(m)
	if err != nil {
		t.Fatal(err)
	}
	want := &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u", ResourceVersion: "7",
		DeletionTimestamp: &now, Finalizers: []string{"f"}, OwnerReferences: m.OwnerReferences}}
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestPatchPodConditionMergesByType(t *testing.T) {
	at := metav1.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"},
		Status: corev1.PodStatus{PodIP: "10.0.0.1", Conditions: []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
			{Type: corev1.PodReady, Status: corev1.ConditionTrue, Reason: "r"},
		}}}
	client := fake.NewClientset(pod)
	if err := PatchPodCondition(context.Background(), client, pod, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: at}, ""); err != nil {
		t.Fatal(err)
	}
	if err := PatchPodCondition(context.Background(), client, pod, corev1.PodCondition{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "x"}, ""); err != nil {
		t.Fatal(err)
	}
	got, err := client.CoreV1().Pods("ns").Get(context.Background(), "p", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	byType := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range got.Status.Conditions {
		byType[c.Type] = c
	}
	if len(got.Status.Conditions) != 3 || byType[corev1.PodScheduled].Status != corev1.ConditionTrue ||
		byType[corev1.PodReady].Status != corev1.ConditionFalse || byType[corev1.PodReady].Reason != "r" || !byType[corev1.PodReady].LastTransitionTime.Time.Equal(at.Time) ||
		byType[corev1.DisruptionTarget].Reason != "x" || got.Status.PodIP != "10.0.0.1" {
		t.Fatalf("conditions after the patches: %+v (podIP %q)", got.Status.Conditions, got.Status.PodIP)
	}
}
