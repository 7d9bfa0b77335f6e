package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestTrimForControllers(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	full := func() *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "api-1", Namespace: "default", Labels: map[string]string{"app": "api"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}},
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
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1",
				ContainerStatuses: []corev1.ContainerStatus{{Name: "api", Ready: true, RestartCount: 2}}},
		}
	}
	got, err := TrimForControllers(full())
	if err != nil {
		t.Fatal(err)
	}
	p := got.(*corev1.Pod)
	want := full()
	want.ManagedFields = nil
	want.Spec.SecurityContext = nil
	want.Spec.Volumes = want.Spec.Volumes[1:]
	want.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "busybox", RestartPolicy: &always}}
	c := want.Spec.Containers[0]
	want.Spec.Containers = []corev1.Container{{Name: c.Name, Image: c.Image, Ports: c.Ports, Resources: c.Resources}}
	if !apiequality.Semantic.DeepEqual(p, want) {
		t.Fatalf("trimmed pod:\n got %+v\nwant %+v", p, want)
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
