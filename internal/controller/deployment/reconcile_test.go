package deployment

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

func deploy(replicas int32, image string) *appsv1.Deployment {
	q := intstr.FromString("25%")
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "default", UID: "d-uid", Generation: 3},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &q, MaxUnavailable: &q}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "api"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: image}}},
			},
		},
	}
}

// rsOf makes the ReplicaSet the controller would have made for d, with
// spec replicas and available (= ready = current) pods.
func rsOf(d *appsv1.Deployment, replicas, available int32, revision string, age time.Duration) *appsv1.ReplicaSet {
	hash := kube.ComputeHash(&d.Spec.Template, nil)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-" + hash, Namespace: d.Namespace, UID: types.UID("rs-" + hash),
			CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0).Add(-age)),
			Annotations:       map[string]string{RevisionAnnotation: revision},
			OwnerReferences:   []metav1.OwnerReference{podutil.OwnerRef(d, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
		Spec:   appsv1.ReplicaSetSpec{Replicas: &replicas, Template: *d.Spec.Template.DeepCopy()},
		Status: appsv1.ReplicaSetStatus{Replicas: available, ReadyReplicas: available, AvailableReplicas: available},
	}
	rs.Spec.Template.Labels = withLabel(d.Spec.Template.Labels, HashLabel, hash)
	return rs
}

func TestReconcileNewDeploymentCreatesReplicaSet(t *testing.T) {
	d := deploy(5, "api:1")
	p := Reconcile(d, nil, time.Unix(1e9, 0))
	if p.Create == nil || *p.Create.Spec.Replicas != 5 || p.Revision != "1" {
		t.Fatalf("plan: %+v", p)
	}
	hash := kube.ComputeHash(&d.Spec.Template, nil)
	if p.Create.Name != "api-"+hash || p.Create.Spec.Selector.MatchLabels[HashLabel] != hash || p.Create.Spec.Template.Labels[HashLabel] != hash {
		t.Fatalf("new ReplicaSet naming and labels: %+v", p.Create.ObjectMeta)
	}
	if p.Create.Annotations[MaxReplicasAnnotation] != "7" || p.Create.Annotations[DesiredReplicasAnnotation] != "5" {
		t.Fatalf("annotations: %v", p.Create.Annotations)
	}
	ref := podutil.ControllerOf(p.Create)
	if ref == nil || ref.UID != "d-uid" {
		t.Fatal("new ReplicaSet not controlled by the deployment")
	}
}

func TestRollingUpdateSteps(t *testing.T) {
	// 8 replicas, 25%: maxSurge 2, maxUnavailable 2.
	oldD := deploy(8, "api:1")
	cases := []struct {
		name             string
		oldSpec, oldAvl  int32
		newSpec, newAvl  int32
		wantOld, wantNew int32
	}{
		{"start: surge 2 new", 8, 8, 0, 0, 6, 2},
		{"new not ready: surge to the cap, old may not drop", 6, 6, 2, 0, 6, 4},
		{"new ready: more surge, more drop", 6, 6, 2, 2, 4, 4},
		{"last step", 2, 2, 8, 8, 0, 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := deploy(8, "api:2")
			old := rsOf(oldD, tc.oldSpec, tc.oldAvl, "1", time.Hour)
			var owned = []*appsv1.ReplicaSet{old}
			if tc.newSpec > 0 || tc.newAvl > 0 {
				owned = append(owned, rsOf(d, tc.newSpec, tc.newAvl, "2", 0))
			}
			p := Reconcile(d, owned, time.Unix(1e9, 0))
			got := map[string]int32{}
			for _, rs := range owned {
				got[rs.Name] = *rs.Spec.Replicas
			}
			if p.Create != nil {
				got[p.Create.Name] = *p.Create.Spec.Replicas
			}
			for _, ch := range p.Update {
				got[ch.RS.Name] = *ch.RS.Spec.Replicas
			}
			newName := "api-" + kube.ComputeHash(&d.Spec.Template, nil)
			if got[old.Name] != tc.wantOld || got[newName] != tc.wantNew {
				t.Fatalf("old %d new %d, want old %d new %d", got[old.Name], got[newName], tc.wantOld, tc.wantNew)
			}
			var total int32
			for _, n := range got {
				total += n
			}
			if total > 8+2 {
				t.Fatalf("total %d exceeds replicas+maxSurge", total)
			}
		})
	}
}

func TestStatusAndConditions(t *testing.T) {
	d := deploy(3, "api:1")
	rs := rsOf(d, 3, 3, "1", 0)
	p := Reconcile(d, []*appsv1.ReplicaSet{rs}, time.Unix(1e9, 0))
	st := p.Status
	if st.Replicas != 3 || st.UpdatedReplicas != 3 || st.AvailableReplicas != 3 || st.ObservedGeneration != 3 || st.UnavailableReplicas != 0 {
		t.Fatalf("status: %+v", st)
	}
	var progressing, available string
	for _, c := range st.Conditions {
		switch c.Type {
		case appsv1.DeploymentProgressing:
			progressing = c.Reason
		case appsv1.DeploymentAvailable:
			available = string(c.Status)
		}
	}
	if progressing != "NewReplicaSetAvailable" || available != "True" {
		t.Fatalf("conditions: %+v", st.Conditions)
	}
	// A second reconcile with the same state keeps the conditions' times (no write churn).
	d.Status = st
	p2 := Reconcile(d, []*appsv1.ReplicaSet{rs}, time.Unix(1e9+60, 0))
	for i := range st.Conditions {
		if !st.Conditions[i].LastUpdateTime.Equal(&p2.Status.Conditions[i].LastUpdateTime) {
			t.Fatal("unchanged conditions got a new update time")
		}
	}
}

func TestRecreateScalesOldToZeroFirst(t *testing.T) {
	oldD := deploy(3, "api:1")
	d := deploy(3, "api:2")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	old := rsOf(oldD, 3, 3, "1", time.Hour)
	p := Reconcile(d, []*appsv1.ReplicaSet{old}, time.Unix(1e9, 0))
	if p.Create == nil || *p.Create.Spec.Replicas != 0 || len(p.Update) != 1 || *p.Update[0].RS.Spec.Replicas != 0 {
		t.Fatalf("recreate step 1: %+v", p)
	}
	old.Spec.Replicas = ptr(int32(0))
	old.Status = appsv1.ReplicaSetStatus{}
	newRS := rsOf(d, 0, 0, "2", 0)
	p = Reconcile(d, []*appsv1.ReplicaSet{old, newRS}, time.Unix(1e9, 0))
	if len(p.Update) != 1 || *p.Update[0].RS.Spec.Replicas != 3 {
		t.Fatalf("recreate step 2: %+v", p.Update)
	}
}

func TestHistoryLimit(t *testing.T) {
	d := deploy(1, "api:9")
	limit := int32(2)
	d.Spec.RevisionHistoryLimit = &limit
	var owned []*appsv1.ReplicaSet
	for i := 1; i <= 5; i++ {
		old := deploy(1, "api:"+string(rune('0'+i)))
		owned = append(owned, rsOf(old, 0, 0, string(rune('0'+i)), time.Duration(10-i)*time.Hour))
	}
	owned = append(owned, rsOf(d, 1, 1, "6", 0))
	p := Reconcile(d, owned, time.Unix(1e9, 0))
	if len(p.Delete) != 3 || p.Delete[0].Annotations[RevisionAnnotation] != "1" {
		t.Fatalf("deleted %d, first %v", len(p.Delete), p.Delete)
	}
}

func ptr[T any](v T) *T { return &v }
