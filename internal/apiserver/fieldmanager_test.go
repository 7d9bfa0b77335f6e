package apiserver

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
)

// TestTrustingConverterTracksTheSameFields runs the same writes through a
// field manager on the validating converter and on the trusting one: the
// managedFields they record must be equal, write after write.
func TestTrustingConverterTracksTheSameFields(t *testing.T) {
	pod := func(mut func(*corev1.Pod)) runtime.Object {
		p := &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "web", Image: "nginx",
				Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
				// Duplicate keys: a live object may hold them, and the
				// update path must still track it.
				Env: []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "A", Value: "2"}},
			}}},
		}
		if mut != nil {
			mut(p)
		}
		return p
	}
	svc := func(mut func(*corev1.Service)) runtime.Object {
		s := &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}}},
		}
		if mut != nil {
			mut(s)
		}
		return s
	}
	writes := []struct {
		name      string
		sub       string
		manager   string
		live, new runtime.Object
	}{
		{"create pod", "", "kube-controller-manager", &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}}, pod(nil)},
		{"bind", "", "kube-scheduler", pod(nil), pod(func(p *corev1.Pod) { p.Spec.NodeName = "node-1" })},
		{"status", "status", "svcnet-agent", pod(func(p *corev1.Pod) { p.Spec.NodeName = "node-1" }), pod(func(p *corev1.Pod) {
			p.Spec.NodeName = "node-1"
			p.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.5", PodIPs: []corev1.PodIP{{IP: "10.0.0.5"}},
				Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: corev1.ContainersReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "web", Ready: true, Image: "nginx"}}}
		})},
		{"create service", "", "kubectl", &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}}, svc(nil)},
		{"service ports", "", "kubectl", svc(nil), svc(func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP})
			s.Spec.Ports[0].Name = "http"
		})},
	}
	validating := applyconfigurations.NewTypeConverter(scheme.Scheme)
	trusting := newTrustingConverter(validating)
	fm := func(tc managedfields.TypeConverter, gvk runtime.Object, sub string) *managedfields.FieldManager {
		k := gvk.GetObjectKind().GroupVersionKind()
		m, err := managedfields.NewDefaultFieldManager(tc, scheme.Scheme, scheme.Scheme, scheme.Scheme, k, k.GroupVersion(), sub, nil)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	// Twice: the first pass teaches the trusting converter each kind, the
	// second takes the path without validation.
	for pass := range 2 {
		var wantLive, gotLive runtime.Object
		for _, w := range writes {
			// Each write starts from the previous write's result when it is
			// the same object, so managedFields accumulate.
			live := w.live.DeepCopyObject()
			wl, gl := live, live.DeepCopyObject()
			if wantLive != nil && wantLive.GetObjectKind().GroupVersionKind() == live.GetObjectKind().GroupVersionKind() {
				wl, gl = withFields(live, wantLive), withFields(live, gotLive)
			}
			want, err := fm(validating, live, w.sub).Update(wl, w.new.DeepCopyObject(), w.manager)
			if err != nil {
				t.Fatalf("pass %d %s: validating: %v", pass, w.name, err)
			}
			got, err := fm(trusting, live, w.sub).Update(gl, w.new.DeepCopyObject(), w.manager)
			if err != nil {
				t.Fatalf("pass %d %s: trusting: %v", pass, w.name, err)
			}
			wf, gf := fieldsOf(t, want), fieldsOf(t, got)
			if len(wf) == 0 {
				t.Fatalf("pass %d %s: no managedFields recorded", pass, w.name)
			}
			if !apiequality.Semantic.DeepEqual(wf, gf) {
				t.Errorf("pass %d %s: managedFields differ\nvalidating: %+v\ntrusting:   %+v", pass, w.name, wf, gf)
			}
			wantLive, gotLive = want, got
		}
	}
	for _, k := range []string{"Pod", "Service"} {
		if _, ok := trusting.types.Load(corev1.SchemeGroupVersion.WithKind(k)); !ok {
			t.Errorf("trusting converter never learnt %s's type: every write took the validating path", k)
		}
	}
	// An apply patch is still validated: duplicate keys are refused.
	dup := pod(nil)
	if _, err := trusting.ObjectToTyped(dup); err == nil {
		t.Error("trusting converter accepted duplicate env keys without AllowDuplicates")
	}
}

// withFields is live carrying from's managedFields.
func withFields(live, from runtime.Object) runtime.Object {
	out := live.DeepCopyObject()
	out.(metav1.Object).SetManagedFields(from.(metav1.Object).GetManagedFields())
	return out
}

// fieldsOf is obj's managedFields without their times.
func fieldsOf(t *testing.T, obj runtime.Object) []metav1.ManagedFieldsEntry {
	t.Helper()
	mf := obj.(metav1.Object).GetManagedFields()
	out := make([]metav1.ManagedFieldsEntry, len(mf))
	for i, e := range mf {
		e.Time = nil
		out[i] = e
	}
	return out
}
