package daemonset

import (
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcnet/svcnet/internal/controller/podutil"
	"github.com/svcnet/svcnet/internal/kube"
)

// RevisionLabel carries the hash of the template a pod was made from.
const RevisionLabel = appsv1.DefaultDaemonSetUniqueLabelKey // controller-revision-hash

// Hash of the DaemonSet's current template.
func Hash(ds *appsv1.DaemonSet) string {
	return kube.ComputeHash(&ds.Spec.Template, ds.Status.CollisionCount)
}

// Tolerations every daemon pod gets, as Kubernetes adds them: it stays on
// a node that goes not ready or unreachable, and is placed despite
// pressure and cordons.
func Tolerations(hostNetwork bool) []corev1.Toleration {
	ts := []corev1.Toleration{
		{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	}
	if hostNetwork {
		ts = append(ts, corev1.Toleration{Key: corev1.TaintNodeNetworkUnavailable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	}
	return ts
}

// PodFor is the daemon pod for node: the template with the DaemonSet's
// tolerations and a required node affinity for that node alone, which the
// scheduler then honours (as Kubernetes places daemon pods).
func PodFor(ds *appsv1.DaemonSet, node string, ref metav1.OwnerReference) *corev1.Pod {
	pod := podutil.FromTemplate(&ds.Spec.Template, ds.Namespace, ref)
	pod.GenerateName = ds.Name + "-"
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[RevisionLabel] = Hash(ds)
	for _, t := range Tolerations(pod.Spec.HostNetwork) {
		if !hasToleration(pod.Spec.Tolerations, t) {
			pod.Spec.Tolerations = append(pod.Spec.Tolerations, t)
		}
	}
	term := corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}
	if pod.Spec.Affinity == nil {
		pod.Spec.Affinity = &corev1.Affinity{}
	}
	pod.Spec.Affinity.NodeAffinity = &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{term}}}
	return pod
}

func hasToleration(ts []corev1.Toleration, t corev1.Toleration) bool {
	for _, x := range ts {
		if x.Key == t.Key && x.Effect == t.Effect && x.Operator == t.Operator {
			return true
		}
	}
	return false
}

// Plan is what a DaemonSet needs this round.
type Plan struct {
	Create []string      // nodes that need a pod
	Delete []*corev1.Pod // extra, misplaced or outdated pods
	Status appsv1.DaemonSetStatus
}

// nodeFor is the node a daemon pod is bound to, or the one its affinity names.
func nodeFor(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, f := range t.MatchFields {
				if f.Key == "metadata.name" && len(f.Values) == 1 {
					return f.Values[0]
				}
			}
		}
	}
	return ""
}

// Reconcile places one pod on every node the template fits (its
// nodeSelector, node affinity and the taints it tolerates), removes pods
// from nodes it no longer fits and duplicates, and with RollingUpdate
// replaces outdated pods, no more at once than maxUnavailable allows.
func Reconcile(ds *appsv1.DaemonSet, nodes []*corev1.Node, owned []*corev1.Pod, now time.Time) Plan {
	hash := Hash(ds)
	byNode := map[string][]*corev1.Pod{}
	for _, p := range owned {
		if podutil.IsActive(p) {
			n := nodeFor(p)
			byNode[n] = append(byNode[n], p)
		}
	}
	var plan Plan
	st := appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, CollisionCount: ds.Status.CollisionCount}
	probe := &corev1.Pod{Spec: ds.Spec.Template.Spec}
	probe.Spec.Tolerations = append(append([]corev1.Toleration{}, probe.Spec.Tolerations...), Tolerations(probe.Spec.HostNetwork)...)
	want := map[string]bool{}
	for _, n := range nodes {
		if n.DeletionTimestamp == nil && podutil.FitsNode(probe, n) {
			want[n.Name] = true
		}
	}
	var outdated []*corev1.Pod
	unavailable := 0
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		pods := byNode[n]
		st.DesiredNumberScheduled++
		if len(pods) == 0 {
			plan.Create = append(plan.Create, n)
			unavailable++
			continue
		}
		podutil.SortForDeletion(pods)
		keep := pods[len(pods)-1] // the most established
		plan.Delete = append(plan.Delete, pods[:len(pods)-1]...)
		if keep.Spec.NodeName != "" {
			st.CurrentNumberScheduled++
		}
		if podutil.IsReady(keep) {
			st.NumberReady++
		}
		if podutil.IsAvailable(keep, ds.Spec.MinReadySeconds, now) {
			st.NumberAvailable++
		} else {
			unavailable++
		}
		if keep.Labels[RevisionLabel] == hash {
			st.UpdatedNumberScheduled++
		} else {
			outdated = append(outdated, keep)
		}
	}
	for n, pods := range byNode {
		if !want[n] {
			plan.Delete = append(plan.Delete, pods...)
			if n != "" {
				st.NumberMisscheduled += int32(len(pods))
			}
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	if ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType && len(outdated) > 0 {
		maxUnavailable := 1
		if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
			v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, int(st.DesiredNumberScheduled), true)
			if err == nil {
				maxUnavailable = max(v, 1)
			}
		}
		// Unavailable outdated pods go first; they cost nothing.
		podutil.SortForDeletion(outdated)
		budget := maxUnavailable - unavailable
		for _, p := range outdated {
			if !podutil.IsAvailable(p, ds.Spec.MinReadySeconds, now) {
				plan.Delete = append(plan.Delete, p)
			} else if budget > 0 {
				plan.Delete = append(plan.Delete, p)
				budget--
			}
		}
	}
	plan.Status = st
	return plan
}
