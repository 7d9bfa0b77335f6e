package nodelifecycle

import (
	"slices"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kubernetes' defaults (kube-controller-manager's --node-monitor-period,
// --node-monitor-grace-period and --node-startup-grace-period).
const (
	DefaultMonitorPeriod      = 5 * time.Second
	DefaultGracePeriod        = 50 * time.Second
	DefaultStartupGracePeriod = 60 * time.Second
)

// tracker remembers, per node, when its agent was last heard from: a new
// Ready heartbeat or a renewed Lease, as this controller saw them arrive
// (its own clock, not the node's, so clock skew cannot fake health).
type tracker struct {
	grace, startupGrace time.Duration
	nodes               map[string]*heard
}

type heard struct {
	// at is when the controller last saw a sign of life.
	at        time.Time
	heartbeat metav1.Time
	renew     metav1.MicroTime
}

func newTracker(grace, startupGrace time.Duration) *tracker {
	return &tracker{grace: grace, startupGrace: startupGrace, nodes: map[string]*heard{}}
}

// silentFor records what node and its lease show at now and returns how
// long past its grace period the node has been silent (<= 0: healthy).
func (t *tracker) silentFor(node *corev1.Node, lease *coordinationv1.Lease, now time.Time) time.Duration {
	ready := readyCondition(node)
	grace := t.grace
	var heartbeat metav1.Time
	if ready == nil {
		// Never posted a status: a longer grace, counted from creation.
		grace = t.startupGrace
	} else {
		heartbeat = ready.LastHeartbeatTime
	}
	var renew metav1.MicroTime
	if lease != nil && lease.Spec.RenewTime != nil {
		renew = *lease.Spec.RenewTime
	}
	h, ok := t.nodes[node.Name]
	switch {
	case !ok:
		// First seen (a new node, or this controller just took over): as
		// Kubernetes, assume it was heard from now.
		at := now
		if ready == nil && !node.CreationTimestamp.IsZero() {
			at = node.CreationTimestamp.Time
		}
		h = &heard{at: at, heartbeat: heartbeat, renew: renew}
		t.nodes[node.Name] = h
	case !heartbeat.Equal(&h.heartbeat) || renew.After(h.renew.Time):
		h.at, h.heartbeat, h.renew = now, heartbeat, renew
	}
	return now.Sub(h.at) - grace
}

func (t *tracker) forget(name string) { delete(t.nodes, name) }

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// readyStatus is the node's Ready status; Unknown when it never said.
func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	if c := readyCondition(n); c != nil {
		return c.Status
	}
	return corev1.ConditionUnknown
}

// markUnknown sets the conditions the node's agent keeps (Ready and the
// pressures) to Unknown, as Kubernetes does when a kubelet falls silent,
// adding Ready if it was never posted. It reports whether anything changed.
func markUnknown(n *corev1.Node, now time.Time) bool {
	changed := false
	t := metav1.NewTime(now)
	for _, typ := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		i := slices.IndexFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool { return c.Type == typ })
		switch {
		case i < 0 && typ == corev1.NodeReady:
			n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: typ, Status: corev1.ConditionUnknown,
				Reason: "NodeStatusNeverUpdated", Message: "Kubelet never posted node status.", LastHeartbeatTime: n.CreationTimestamp, LastTransitionTime: t})
			changed = true
		case i >= 0 && n.Status.Conditions[i].Status != corev1.ConditionUnknown:
			c := &n.Status.Conditions[i]
			c.Status, c.Reason, c.Message, c.LastTransitionTime = corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status.", t
			changed = true
		}
	}
	return changed
}

// The taints this controller owns: the NoExecute pair that follows Ready,
// and the NoSchedule ones that follow the conditions and spec.unschedulable
// (kube-controller-manager's TaintBasedEvictions and condition taints).
var ownedKeys = []string{
	corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, corev1.TaintNodeUnschedulable,
	corev1.TaintNodeMemoryPressure, corev1.TaintNodeDiskPressure, corev1.TaintNodePIDPressure, corev1.TaintNodeNetworkUnavailable,
}

// desiredTaints is the node's whole taint list as it should be: its
// foreign taints unchanged, and the owned ones its state calls for (those
// it has already keep their timeAdded). evict false leaves NoExecute taints
// out: when every node is down, the fault is more likely the controller's
// view than every node, and Kubernetes then evicts nothing.
func desiredTaints(n *corev1.Node, evict bool, now time.Time) []corev1.Taint {
	var want []corev1.Taint
	add := func(key string, effect corev1.TaintEffect) {
		want = append(want, corev1.Taint{Key: key, Effect: effect})
	}
	ready := corev1.ConditionStatus("") // a node that never said is left to its startup grace
	if c := readyCondition(n); c != nil {
		ready = c.Status
	}
	switch ready {
	case corev1.ConditionFalse:
		add(corev1.TaintNodeNotReady, corev1.TaintEffectNoSchedule)
		if evict {
			add(corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)
		}
	case corev1.ConditionUnknown:
		add(corev1.TaintNodeUnreachable, corev1.TaintEffectNoSchedule)
		if evict {
			add(corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute)
		}
	}
	for _, c := range n.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case corev1.NodeMemoryPressure:
			add(corev1.TaintNodeMemoryPressure, corev1.TaintEffectNoSchedule)
		case corev1.NodeDiskPressure:
			add(corev1.TaintNodeDiskPressure, corev1.TaintEffectNoSchedule)
		case corev1.NodePIDPressure:
			add(corev1.TaintNodePIDPressure, corev1.TaintEffectNoSchedule)
		case corev1.NodeNetworkUnavailable:
			add(corev1.TaintNodeNetworkUnavailable, corev1.TaintEffectNoSchedule)
		}
	}
	if n.Spec.Unschedulable {
		add(corev1.TaintNodeUnschedulable, corev1.TaintEffectNoSchedule)
	}
	var out []corev1.Taint
	for _, t := range n.Spec.Taints {
		if !slices.Contains(ownedKeys, t.Key) {
			out = append(out, t)
		}
	}
	for _, w := range want {
		i := slices.IndexFunc(n.Spec.Taints, func(t corev1.Taint) bool { return t.Key == w.Key && t.Effect == w.Effect })
		switch {
		case i >= 0:
			w = n.Spec.Taints[i]
		case w.Effect == corev1.TaintEffectNoExecute:
			at := metav1.NewTime(now)
			w.TimeAdded = &at
		}
		out = append(out, w)
	}
	return out
}

// sameTaints compares taint lists as sets of key, value and effect.
func sameTaints(a, b []corev1.Taint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !slices.ContainsFunc(b, func(t corev1.Taint) bool { return t.MatchTaint(&a[i]) && t.Value == a[i].Value }) {
			return false
		}
	}
	return true
}
