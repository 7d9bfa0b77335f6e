package statefulset

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

// Labels StatefulSet pods carry.
const (
	PodNameLabel  = appsv1.StatefulSetPodNameLabel // statefulset.kubernetes.io/pod-name
	PodIndexLabel = appsv1.PodIndexLabel           // apps.kubernetes.io/pod-index
	RevisionLabel = appsv1.ControllerRevisionHashLabelKey
)

// Ordinal of a pod of set, or -1.
func Ordinal(set *appsv1.StatefulSet, pod *corev1.Pod) int {
	s, ok := strings.CutPrefix(pod.Name, set.Name+"-")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || strconv.Itoa(n) != s {
		return -1
	}
	return n
}

// Revision names the set's current template.
func Revision(set *appsv1.StatefulSet) string {
	return set.Name + "-" + kube.ComputeHash(&set.Spec.Template, set.Status.CollisionCount)
}

// Plan is what a StatefulSet needs this round.
type Plan struct {
	Create []int         // ordinals to create
	Delete []*corev1.Pod // pods to delete
	Status appsv1.StatefulSetStatus
}

func healthy(p *corev1.Pod) bool {
	return podutil.IsActive(p) && p.Status.Phase == corev1.PodRunning && podutil.IsReady(p)
}

// Reconcile decides the next step: OrderedReady creates the lowest missing
// ordinal once every lower one is Running and Ready and removes the highest
// extra one once the rest are; Parallel does all at once. A RollingUpdate
// replaces outdated pods from the highest ordinal down to the partition, one
// at a time, when all are healthy.
func Reconcile(set *appsv1.StatefulSet, owned []*corev1.Pod) Plan {
	want := 1
	if set.Spec.Replicas != nil {
		want = int(*set.Spec.Replicas)
	}
	rev := Revision(set)
	byOrd := map[int]*corev1.Pod{}
	var extra []*corev1.Pod
	for _, p := range owned {
		o := Ordinal(set, p)
		switch {
		case o < 0:
			continue
		case o >= want:
			extra = append(extra, p)
		default:
			byOrd[o] = p
		}
	}
	parallel := set.Spec.PodManagementPolicy == appsv1.ParallelPodManagement
	var plan Plan
	allHealthy := true
	for o := 0; o < want; o++ {
		p, ok := byOrd[o]
		switch {
		case !ok:
			allHealthy = false
			if parallel || len(plan.Create) == 0 && lowerHealthy(byOrd, o) {
				plan.Create = append(plan.Create, o)
			}
		case !podutil.IsActive(p):
			allHealthy = false
			if p.DeletionTimestamp == nil && (p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded) {
				plan.Delete = append(plan.Delete, p) // recreated next round
			}
		case !healthy(p):
			allHealthy = false
		}
	}
	sort.Slice(extra, func(i, j int) bool { return Ordinal(set, extra[i]) > Ordinal(set, extra[j]) })
	for _, p := range extra {
		if p.DeletionTimestamp != nil {
			if !parallel {
				break
			}
			continue
		}
		if parallel || (allHealthy && len(plan.Create) == 0) {
			plan.Delete = append(plan.Delete, p)
			if !parallel {
				break
			}
		}
	}
	// Rolling update from the top down to the partition.
	if set.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType && allHealthy && len(extra) == 0 {
		partition := 0
		if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
			partition = int(*ru.Partition)
		}
		for o := want - 1; o >= partition; o-- {
			if p := byOrd[o]; p != nil && p.Labels[RevisionLabel] != rev {
				plan.Delete = append(plan.Delete, p)
				break
			}
		}
	}
	st := appsv1.StatefulSetStatus{ObservedGeneration: set.Generation, UpdateRevision: rev, CurrentRevision: set.Status.CurrentRevision, CollisionCount: set.Status.CollisionCount}
	for _, p := range owned {
		if !podutil.IsActive(p) || Ordinal(set, p) < 0 {
			continue
		}
		st.Replicas++
		if podutil.IsReady(p) {
			st.ReadyReplicas++
			if podutil.IsAvailable(p, set.Spec.MinReadySeconds, p.CreationTimestamp.Time) || set.Spec.MinReadySeconds == 0 {
				st.AvailableReplicas++
			}
		}
		if p.Labels[RevisionLabel] == rev {
			st.UpdatedReplicas++
		}
		if p.Labels[RevisionLabel] == st.CurrentRevision {
			st.CurrentReplicas++
		}
	}
	if st.UpdatedReplicas == int32(want) && st.ReadyReplicas == int32(want) || st.CurrentRevision == "" {
		st.CurrentRevision = rev
		st.CurrentReplicas = st.UpdatedReplicas
	}
	plan.Status = st
	return plan
}

func lowerHealthy(byOrd map[int]*corev1.Pod, o int) bool {
	for i := 0; i < o; i++ {
		if p, ok := byOrd[i]; !ok || !healthy(p) {
			return false
		}
	}
	return true
}

// PodFor makes pod ordinal o of set.
func PodFor(set *appsv1.StatefulSet, o int) *corev1.Pod {
	name := fmt.Sprintf("%s-%d", set.Name, o)
	p := podutil.FromTemplate(&set.Spec.Template, set.Namespace, podutil.OwnerRef(set, appsv1.SchemeGroupVersion.WithKind("StatefulSet")))
	p.Name = name
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[PodNameLabel] = name
	p.Labels[PodIndexLabel] = strconv.Itoa(o)
	p.Labels[RevisionLabel] = Revision(set)
	p.Spec.Hostname = name
	p.Spec.Subdomain = set.Spec.ServiceName
	// Each volumeClaimTemplate becomes the pod's volume of that name, on
	// the ordinal's own claim.
	for _, t := range set.Spec.VolumeClaimTemplates {
		v := corev1.Volume{Name: t.Name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ClaimName(set, t.Name, o)}}}
		if i := slices.IndexFunc(p.Spec.Volumes, func(x corev1.Volume) bool { return x.Name == t.Name }); i >= 0 {
			p.Spec.Volumes[i] = v
		} else {
			p.Spec.Volumes = append(p.Spec.Volumes, v)
		}
	}
	return p
}

// ClaimName is the claim of template for ordinal o: <template>-<set>-<o>.
func ClaimName(set *appsv1.StatefulSet, template string, o int) string {
	return fmt.Sprintf("%s-%s-%d", template, set.Name, o)
}

// ClaimsFor are the claims ordinal o needs, from the volumeClaimTemplates,
// labelled with the set's selector labels. With the Delete retention policy
// the set owns them (they go with it); Retain leaves them.
func ClaimsFor(set *appsv1.StatefulSet, o int) []*corev1.PersistentVolumeClaim {
	var out []*corev1.PersistentVolumeClaim
	for _, t := range set.Spec.VolumeClaimTemplates {
		c := t.DeepCopy()
		c.Name, c.Namespace = ClaimName(set, t.Name, o), set.Namespace
		c.ResourceVersion, c.UID = "", ""
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		if set.Spec.Selector != nil {
			for k, v := range set.Spec.Selector.MatchLabels {
				c.Labels[k] = v
			}
		}
		if rp := set.Spec.PersistentVolumeClaimRetentionPolicy; rp != nil && rp.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			c.OwnerReferences = []metav1.OwnerReference{podutil.OwnerRef(set, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))}
		}
		c.Status = corev1.PersistentVolumeClaimStatus{}
		out = append(out, c)
	}
	return out
}
