package registry

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// TableSpec prints a resource as kubectl expects from server-side printing.
type TableSpec struct {
	Columns []metav1.TableColumnDefinition
	Row     func(obj runtime.Object, now time.Time) []interface{}
}

func col(name, typ, desc string, priority int32) metav1.TableColumnDefinition {
	c := metav1.TableColumnDefinition{Name: name, Type: typ, Description: desc, Priority: priority}
	if name == "Name" {
		c.Format = "name"
		c.Description = "Name must be unique within a namespace. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
	}
	return c
}

var nameCol = col("Name", "string", "", 0)
var ageCol = col("Age", "string", "CreationTimestamp is a timestamp representing the server time when this object was created.", 0)

// Age prints the time since t as kubectl does.
func Age(t metav1.Time, now time.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

func nameAge(obj runtime.Object, now time.Time) (string, string) {
	m, _ := meta.Accessor(obj)
	return m.GetName(), Age(m.GetCreationTimestamp(), now)
}

// DefaultTable is Name and Age, what Kubernetes prints for any resource.
var DefaultTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol, ageCol},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		n, a := nameAge(obj, now)
		return []interface{}{n, a}
	},
}

// ToTable prints objects as a Table.
func ToTable(spec *TableSpec, objs []runtime.Object, now time.Time, withHeaders bool) *metav1.Table {
	if spec == nil {
		spec = DefaultTable
	}
	t := &metav1.Table{TypeMeta: metav1.TypeMeta{Kind: "Table", APIVersion: "meta.k8s.io/v1"}, Rows: []metav1.TableRow{}}
	if withHeaders {
		t.ColumnDefinitions = spec.Columns
	}
	for _, obj := range objs {
		m, _ := meta.Accessor(obj)
		pom := &metav1.PartialObjectMetadata{
			TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"},
			ObjectMeta: metav1.ObjectMeta{
				Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
				ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
				DeletionTimestamp: m.GetDeletionTimestamp(), Labels: m.GetLabels(), Annotations: m.GetAnnotations(),
				OwnerReferences: m.GetOwnerReferences(), Generation: m.GetGeneration(),
			},
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: spec.Row(obj, now), Object: runtime.RawExtension{Object: pom}})
	}
	return t
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func selectorString(sel *metav1.LabelSelector) string {
	if sel == nil {
		return "<none>"
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return "<error>"
	}
	return orNone(s.String())
}

func containersImages(cs []corev1.Container) (string, string) {
	var names, images []string
	for _, c := range cs {
		names = append(names, c.Name)
		images = append(images, c.Image)
	}
	return strings.Join(names, ","), strings.Join(images, ",")
}

func firstN(items []string, n int) string {
	if len(items) == 0 {
		return "<none>"
	}
	if len(items) <= n {
		return strings.Join(items, ",")
	}
	return strings.Join(items[:n], ",") + fmt.Sprintf(" + %d more...", len(items)-n)
}

var podTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic.", 0),
		col("Status", "string", "The aggregate status of the containers in this pod.", 0),
		col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0),
		ageCol,
		col("IP", "string", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1),
		col("Node", "string", "NodeName is a request to schedule this pod onto a specific node.", 1),
		col("Nominated Node", "string", "nominatedNodeName is set when this pod preempts other pods on the node.", 1),
		col("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
	},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		p := obj.(*corev1.Pod)
		ready, restarts := 0, int32(0)
		var lastRestart time.Time
		reason := string(p.Status.Phase)
		if p.Status.Reason != "" {
			reason = p.Status.Reason
		}
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
			if cs.LastTerminationState.Terminated != nil && cs.LastTerminationState.Terminated.FinishedAt.After(lastRestart) {
				lastRestart = cs.LastTerminationState.Terminated.FinishedAt.Time
			}
			if cs.Ready && cs.State.Running != nil {
				ready++
			}
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				reason = cs.State.Waiting.Reason
			case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
				reason = cs.State.Terminated.Reason
			}
		}
		if p.Status.Phase == corev1.PodPending && len(p.Status.ContainerStatuses) == 0 && p.Spec.NodeName != "" {
			reason = "ContainerCreating"
		}
		if p.DeletionTimestamp != nil {
			reason = "Terminating"
		}
		restartStr := strconv.Itoa(int(restarts))
		if !lastRestart.IsZero() {
			restartStr = fmt.Sprintf("%d (%s ago)", restarts, duration.HumanDuration(now.Sub(lastRestart)))
		}
		gates := "<none>"
		if len(p.Spec.ReadinessGates) > 0 {
			trueGates := 0
			for _, g := range p.Spec.ReadinessGates {
				for _, c := range p.Status.Conditions {
					if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
						trueGates++
					}
				}
			}
			gates = fmt.Sprintf("%d/%d", trueGates, len(p.Spec.ReadinessGates))
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)), reason, restartStr, age,
			orNone(p.Status.PodIP), orNone(p.Spec.NodeName), orNone(p.Status.NominatedNodeName), gates}
	},
}

// ServicePorts prints ports as kubectl does ("80/TCP", "80:30080/TCP").
func ServicePorts(ports []corev1.ServicePort) string {
	var out []string
	for _, p := range ports {
		s := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.NodePort > 0 {
			s = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		}
		out = append(out, s)
	}
	return orNone(strings.Join(out, ","))
}

var serviceTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{
		nameCol,
		col("Type", "string", "type determines how the Service is exposed.", 0),
		col("Cluster-IP", "string", "clusterIP is the IP address of the service and is usually assigned randomly.", 0),
		col("External-IP", "string", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.", 0),
		col("Port(s)", "string", "The list of ports that are exposed by this service.", 0),
		ageCol,
		col("Selector", "string", "Route service traffic to pods with label keys and values matching this selector.", 1),
	},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		s := obj.(*corev1.Service)
		ext := "<none>"
		switch {
		case s.Spec.Type == corev1.ServiceTypeExternalName:
			ext = s.Spec.ExternalName
		case len(s.Spec.ExternalIPs) > 0:
			ext = strings.Join(s.Spec.ExternalIPs, ",")
		case s.Spec.Type == corev1.ServiceTypeLoadBalancer:
			var ips []string
			for _, in := range s.Status.LoadBalancer.Ingress {
				ips = append(ips, in.IP+in.Hostname)
			}
			ext = "<pending>"
			if len(ips) > 0 {
				ext = strings.Join(ips, ",")
			}
		}
		cip := s.Spec.ClusterIP
		if cip == "" {
			cip = "<none>"
		}
		sel := "<none>"
		if len(s.Spec.Selector) > 0 {
			sel = labels.SelectorFromSet(s.Spec.Selector).String()
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, string(s.Spec.Type), cip, ext, ServicePorts(s.Spec.Ports), age, sel}
	},
}

func workloadColumns(first ...metav1.TableColumnDefinition) []metav1.TableColumnDefinition {
	out := append([]metav1.TableColumnDefinition{nameCol}, first...)
	return append(out, ageCol,
		col("Containers", "string", "Names of each container in the template.", 1),
		col("Images", "string", "Images referenced by each container in the template.", 1),
		col("Selector", "string", "Label selector for pods.", 1))
}

var deploymentTable = &TableSpec{
	Columns: workloadColumns(
		col("Ready", "string", "Number of the pod with ready state", 0),
		col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec.", 0),
		col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.", 0)),
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		d := obj.(*appsv1.Deployment)
		want := deref(d.Spec.Replicas, 1)
		c, i := containersImages(d.Spec.Template.Spec.Containers)
		name, age := nameAge(obj, now)
		return []interface{}{name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, want), int64(d.Status.UpdatedReplicas),
			int64(d.Status.AvailableReplicas), age, c, i, selectorString(d.Spec.Selector)}
	},
}

var replicaSetTable = &TableSpec{
	Columns: workloadColumns(
		col("Desired", "integer", "Replicas is the number of desired replicas.", 0),
		col("Current", "integer", "Replicas is the most recently observed number of replicas.", 0),
		col("Ready", "integer", "The number of ready replicas for this replica set.", 0)),
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		rs := obj.(*appsv1.ReplicaSet)
		want := deref(rs.Spec.Replicas, 1)
		c, i := containersImages(rs.Spec.Template.Spec.Containers)
		name, age := nameAge(obj, now)
		return []interface{}{name, int64(want), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas), age, c, i, selectorString(rs.Spec.Selector)}
	},
}

var statefulSetTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Ready", "string", "Number of the pod with ready state", 0), ageCol,
		col("Containers", "string", "Names of each container in the template.", 1),
		col("Images", "string", "Images referenced by each container in the template.", 1)},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		s := obj.(*appsv1.StatefulSet)
		want := int32(1)
		if s.Spec.Replicas != nil {
			want = *s.Spec.Replicas
		}
		c, i := containersImages(s.Spec.Template.Spec.Containers)
		name, age := nameAge(obj, now)
		return []interface{}{name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, want), age, c, i}
	},
}

var endpointSliceTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("AddressType", "string", "The IP protocol for this slice", 0),
		col("Ports", "string", "The ports defined in this slice", 0),
		col("Endpoints", "string", "The endpoints defined in this slice", 0), ageCol},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		s := obj.(*discoveryv1.EndpointSlice)
		var ports []string
		for _, p := range s.Ports {
			if p.Port != nil {
				ports = append(ports, strconv.Itoa(int(*p.Port)))
			}
		}
		portStr := "<unset>"
		if len(ports) > 0 {
			portStr = strings.Join(ports, ",")
		}
		var addrs []string
		for _, e := range s.Endpoints {
			addrs = append(addrs, e.Addresses...)
		}
		eps := firstN(addrs, 3)
		if len(addrs) == 0 {
			eps = "<unset>"
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, string(s.AddressType), portStr, eps, age}
	},
}

var endpointsTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Endpoints", "string", "Endpoints of the service", 0), ageCol},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		e := obj.(*corev1.Endpoints)
		var out []string
		for _, ss := range e.Subsets {
			for _, a := range ss.Addresses {
				if len(ss.Ports) == 0 {
					out = append(out, a.IP)
				}
				for _, p := range ss.Ports {
					out = append(out, fmt.Sprintf("%s:%d", a.IP, p.Port))
				}
			}
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, firstN(out, 3), age}
	},
}

var namespaceTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Status", "string", "The status of the namespace", 0), ageCol},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		n := obj.(*corev1.Namespace)
		name, age := nameAge(obj, now)
		return []interface{}{name, string(n.Status.Phase), age}
	},
}

var nodeTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Status", "string", "The status of the node", 0),
		col("Roles", "string", "The roles of the node", 0), ageCol,
		col("Version", "string", "Kubelet Version reported by the node.", 0),
		col("Internal-IP", "string", "List of addresses reachable to the node.", 1),
		col("External-IP", "string", "List of addresses reachable to the node.", 1),
		col("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1),
		col("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
		col("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", 1)},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		n := obj.(*corev1.Node)
		status := "Unknown"
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				status = "NotReady"
				if c.Status == corev1.ConditionTrue {
					status = "Ready"
				}
			}
		}
		if n.Spec.Unschedulable {
			status += ",SchedulingDisabled"
		}
		var roles []string
		for k := range n.Labels {
			if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok {
				roles = append(roles, r)
			}
		}
		sort.Strings(roles)
		in, ex := "<none>", "<none>"
		for _, a := range n.Status.Addresses {
			switch a.Type {
			case corev1.NodeInternalIP:
				in = a.Address
			case corev1.NodeExternalIP:
				ex = a.Address
			}
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, status, orNone(strings.Join(roles, ",")), age, n.Status.NodeInfo.KubeletVersion,
			in, ex, orNone(n.Status.NodeInfo.OSImage), orNone(n.Status.NodeInfo.KernelVersion), orNone(n.Status.NodeInfo.ContainerRuntimeVersion)}
	},
}

var eventTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{
		col("Last Seen", "string", "Time when last this event was seen", 0),
		col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future.", 0),
		col("Reason", "string", "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.", 0),
		col("Object", "string", "The object that this event is about.", 0),
		col("Message", "string", "A human-readable description of the status of this operation.", 0),
		col("Subobject", "string", "The subobject that this event is about.", 1),
		col("Source", "string", "The component reporting this event.", 1),
		col("First Seen", "string", "The time at which the event was first recorded.", 1),
		col("Count", "string", "The number of times this event has occurred.", 1),
		{Name: "Name", Type: "string", Format: "name", Description: "Name of the event", Priority: 1},
	},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		e := obj.(*corev1.Event)
		last := e.LastTimestamp
		if last.IsZero() {
			last = metav1.NewTime(e.EventTime.Time)
		}
		first := e.FirstTimestamp
		if first.IsZero() {
			first = last
		}
		src := e.Source.Component
		if src == "" {
			src = e.ReportingController
		}
		count := e.Count
		if count == 0 {
			count = 1
		}
		objName := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
		return []interface{}{Age(last, now), e.Type, e.Reason, objName, strings.TrimSpace(e.Message),
			e.InvolvedObject.FieldPath, src, Age(first, now), strconv.Itoa(int(count)), e.Name}
	},
}

var leaseTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol, col("Holder", "string", "The holder of the lease", 0), ageCol},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		l := obj.(*coordinationv1.Lease)
		holder := ""
		if l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, holder, age}
	},
}
