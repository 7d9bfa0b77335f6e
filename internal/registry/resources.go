package registry

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ScaleSpec reads and writes the replica count behind the scale subresource.
type ScaleSpec struct {
	Get      func(obj runtime.Object) (spec, status int32, selector *metav1.LabelSelector)
	Set      func(obj runtime.Object, replicas int32)
	Defaults func() int32
}

// Config carries what the strategies need from the server.
type Config struct {
	// Services allocates ClusterIPs and NodePorts.
	Services *ServiceStrategy
	// Nodes allocates pod CIDRs.
	Nodes *NodeStrategy
}

var allVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// Verbs are the verbs every resource serves.
func Verbs() []string { return allVerbs }

func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// Resources builds the served resources, in discovery order.
func Resources(cfg Config) []*Resource {
	if cfg.Nodes == nil {
		cfg.Nodes = &NodeStrategy{}
	}
	return []*Resource{
		{
			GVR: gvr("", "v1", "pods"), Kind: "Pod", ListKind: "PodList", Singular: "pod", Namespaced: true,
			ShortNames: []string{"po"}, Categories: []string{"all"}, Subresources: []string{"status", "log"},
			New: func() runtime.Object { return &corev1.Pod{} }, NewList: func() runtime.Object { return &corev1.PodList{} },
			PrepareForCreate: func(obj runtime.Object) {
				p := obj.(*corev1.Pod)
				p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: corev1.PodQOSBestEffort}
			},
			Default: func(obj runtime.Object) { DefaultPodSpec(&obj.(*corev1.Pod).Spec) },
			Validate: func(obj runtime.Object) field.ErrorList {
				return ValidatePodSpec(&obj.(*corev1.Pod).Spec, field.NewPath("spec"))
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				n, o := obj.(*corev1.Pod), old.(*corev1.Pod)
				errs := ValidatePodSpec(&n.Spec, field.NewPath("spec"))
				if o.Spec.NodeName != "" && n.Spec.NodeName != o.Spec.NodeName {
					errs = append(errs, field.Forbidden(field.NewPath("spec", "nodeName"), "pod updates may not change nodeName once set"))
				}
				return errs
			},
			Fields: func(obj runtime.Object) fields.Set {
				p := obj.(*corev1.Pod)
				return fields.Set{
					"spec.nodeName": p.Spec.NodeName, "spec.restartPolicy": string(p.Spec.RestartPolicy),
					"spec.schedulerName": p.Spec.SchedulerName, "spec.serviceAccountName": p.Spec.ServiceAccountName,
					"spec.hostNetwork": strconv.FormatBool(p.Spec.HostNetwork), "status.phase": string(p.Status.Phase),
					"status.podIP": p.Status.PodIP, "status.nominatedNodeName": p.Status.NominatedNodeName,
				}
			},
			GracefulDelete: func(obj runtime.Object, requested *int64) int64 {
				p := obj.(*corev1.Pod)
				if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
					return 0
				}
				if requested != nil {
					return max(*requested, 0)
				}
				if p.Spec.TerminationGracePeriodSeconds != nil {
					return max(*p.Spec.TerminationGracePeriodSeconds, 1)
				}
				return 30
			},
			Table: podTable,
		},
		{
			GVR: gvr("", "v1", "services"), Kind: "Service", ListKind: "ServiceList", Singular: "service", Namespaced: true,
			ShortNames: []string{"svc"}, Categories: []string{"all"}, Subresources: []string{"status"},
			NameFunc: apivalidation.NameIsDNS1035Label,
			New:      func() runtime.Object { return &corev1.Service{} }, NewList: func() runtime.Object { return &corev1.ServiceList{} },
			PrepareForCreate: func(obj runtime.Object) { obj.(*corev1.Service).Status = corev1.ServiceStatus{} },
			Default:          cfg.Services.Default,
			Validate:         cfg.Services.Validate,
			ValidateUpdate:   cfg.Services.ValidateUpdate,
			Fields: func(obj runtime.Object) fields.Set {
				s := obj.(*corev1.Service)
				return fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)}
			},
			Claims: cfg.Services,
			Table:  serviceTable,
		},
		{
			GVR: gvr("", "v1", "endpoints"), Kind: "Endpoints", ListKind: "EndpointsList", Singular: "endpoints", Namespaced: true,
			ShortNames: []string{"ep"}, AllowCreateOnUpdate: true,
			New: func() runtime.Object { return &corev1.Endpoints{} }, NewList: func() runtime.Object { return &corev1.EndpointsList{} },
			Default: func(obj runtime.Object) {
				e := obj.(*corev1.Endpoints)
				for i := range e.Subsets {
					for j := range e.Subsets[i].Ports {
						if e.Subsets[i].Ports[j].Protocol == "" {
							e.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
						}
					}
				}
			},
			Validate: validateEndpoints,
			Table:    endpointsTable,
		},
		{
			GVR: gvr("", "v1", "namespaces"), Kind: "Namespace", ListKind: "NamespaceList", Singular: "namespace",
			ShortNames: []string{"ns"}, Subresources: []string{"status"}, NameFunc: apivalidation.ValidateNamespaceName,
			New: func() runtime.Object { return &corev1.Namespace{} }, NewList: func() runtime.Object { return &corev1.NamespaceList{} },
			PrepareForCreate: func(obj runtime.Object) {
				n := obj.(*corev1.Namespace)
				n.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
				n.Spec.Finalizers = []corev1.FinalizerName{corev1.FinalizerKubernetes}
			},
			Default: func(obj runtime.Object) {
				n := obj.(*corev1.Namespace)
				if n.Labels == nil {
					n.Labels = map[string]string{}
				}
				n.Labels["kubernetes.io/metadata.name"] = n.Name
				if n.Status.Phase == "" {
					n.Status.Phase = corev1.NamespaceActive
				}
				if n.DeletionTimestamp != nil {
					n.Status.Phase = corev1.NamespaceTerminating
				}
			},
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"status.phase": string(obj.(*corev1.Namespace).Status.Phase)}
			},
			DeleteBlocked: func(obj runtime.Object) bool { return len(obj.(*corev1.Namespace).Spec.Finalizers) > 0 },
			MarkDeleting:  func(obj runtime.Object) { obj.(*corev1.Namespace).Status.Phase = corev1.NamespaceTerminating },
			Table:         namespaceTable,
		},
		{
			GVR: gvr("", "v1", "nodes"), Kind: "Node", ListKind: "NodeList", Singular: "node",
			ShortNames: []string{"no"}, Subresources: []string{"status"},
			New: func() runtime.Object { return &corev1.Node{} }, NewList: func() runtime.Object { return &corev1.NodeList{} },
			Claims: cfg.Nodes, Validate: cfg.Nodes.Validate, ValidateUpdate: cfg.Nodes.ValidateUpdate,
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"spec.unschedulable": strconv.FormatBool(obj.(*corev1.Node).Spec.Unschedulable)}
			},
			Table: nodeTable,
		},
		{
			GVR: gvr("", "v1", "events"), Kind: "Event", ListKind: "EventList", Singular: "event", Namespaced: true,
			ShortNames: []string{"ev"}, AllowCreateOnUpdate: true,
			New: func() runtime.Object { return &corev1.Event{} }, NewList: func() runtime.Object { return &corev1.EventList{} },
			Validate: func(obj runtime.Object) field.ErrorList {
				e := obj.(*corev1.Event)
				var errs field.ErrorList
				if e.InvolvedObject.Namespace != "" && e.InvolvedObject.Namespace != e.Namespace {
					errs = append(errs, field.Invalid(field.NewPath("involvedObject", "namespace"), e.InvolvedObject.Namespace, "does not match event.namespace"))
				}
				return errs
			},
			Fields: func(obj runtime.Object) fields.Set {
				e := obj.(*corev1.Event)
				return fields.Set{
					"involvedObject.kind": e.InvolvedObject.Kind, "involvedObject.namespace": e.InvolvedObject.Namespace,
					"involvedObject.name": e.InvolvedObject.Name, "involvedObject.uid": string(e.InvolvedObject.UID),
					"involvedObject.apiVersion": e.InvolvedObject.APIVersion, "involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
					"involvedObject.fieldPath": e.InvolvedObject.FieldPath, "reason": e.Reason,
					"reportingComponent": e.ReportingController, "source": e.Source.Component, "type": e.Type,
				}
			},
			Table: eventTable,
		},
		{
			GVR: gvr("discovery.k8s.io", "v1", "endpointslices"), Kind: "EndpointSlice", ListKind: "EndpointSliceList", Singular: "endpointslice", Namespaced: true,
			New: func() runtime.Object { return &discoveryv1.EndpointSlice{} }, NewList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
			Default: func(obj runtime.Object) {
				s := obj.(*discoveryv1.EndpointSlice)
				for i := range s.Ports {
					if s.Ports[i].Protocol == nil {
						tcp := corev1.ProtocolTCP
						s.Ports[i].Protocol = &tcp
					}
				}
			},
			Validate: validateEndpointSlice,
			Table:    endpointSliceTable,
		},
		{
			GVR: gvr("apps", "v1", "deployments"), Kind: "Deployment", ListKind: "DeploymentList", Singular: "deployment", Namespaced: true,
			ShortNames: []string{"deploy"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"},
			New: func() runtime.Object { return &appsv1.Deployment{} }, NewList: func() runtime.Object { return &appsv1.DeploymentList{} },
			PrepareForCreate: func(obj runtime.Object) { obj.(*appsv1.Deployment).Status = appsv1.DeploymentStatus{} },
			Default:          func(obj runtime.Object) { DefaultDeployment(obj.(*appsv1.Deployment)) },
			Validate: func(obj runtime.Object) field.ErrorList {
				d := obj.(*appsv1.Deployment)
				return validateWorkload(d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template)
			},
			ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
				d, o := obj.(*appsv1.Deployment), old.(*appsv1.Deployment)
				errs := validateWorkload(d.Spec.Replicas, d.Spec.Selector, &d.Spec.Template)
				return append(errs, apivalidation.ValidateImmutableField(d.Spec.Selector, o.Spec.Selector, field.NewPath("spec", "selector"))...)
			},
			Scale: &ScaleSpec{
				Get: func(obj runtime.Object) (int32, int32, *metav1.LabelSelector) {
					d := obj.(*appsv1.Deployment)
					return deref(d.Spec.Replicas, 1), d.Status.Replicas, d.Spec.Selector
				},
				Set: func(obj runtime.Object, n int32) { obj.(*appsv1.Deployment).Spec.Replicas = &n },
			},
			Table: deploymentTable,
		},
		{
			GVR: gvr("apps", "v1", "replicasets"), Kind: "ReplicaSet", ListKind: "ReplicaSetList", Singular: "replicaset", Namespaced: true,
			ShortNames: []string{"rs"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"},
			New: func() runtime.Object { return &appsv1.ReplicaSet{} }, NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} },
			PrepareForCreate: func(obj runtime.Object) { obj.(*appsv1.ReplicaSet).Status = appsv1.ReplicaSetStatus{} },
			Default: func(obj runtime.Object) {
				rs := obj.(*appsv1.ReplicaSet)
				if rs.Spec.Replicas == nil {
					one := int32(1)
					rs.Spec.Replicas = &one
				}
				DefaultPodSpec(&rs.Spec.Template.Spec)
			},
			Validate: func(obj runtime.Object) field.ErrorList {
				rs := obj.(*appsv1.ReplicaSet)
				return validateWorkload(rs.Spec.Replicas, rs.Spec.Selector, &rs.Spec.Template)
			},
			Scale: &ScaleSpec{
				Get: func(obj runtime.Object) (int32, int32, *metav1.LabelSelector) {
					rs := obj.(*appsv1.ReplicaSet)
					return deref(rs.Spec.Replicas, 1), rs.Status.Replicas, rs.Spec.Selector
				},
				Set: func(obj runtime.Object, n int32) { obj.(*appsv1.ReplicaSet).Spec.Replicas = &n },
			},
			Table: replicaSetTable,
		},
		{
			GVR: gvr("apps", "v1", "statefulsets"), Kind: "StatefulSet", ListKind: "StatefulSetList", Singular: "statefulset", Namespaced: true,
			ShortNames: []string{"sts"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"},
			New: func() runtime.Object { return &appsv1.StatefulSet{} }, NewList: func() runtime.Object { return &appsv1.StatefulSetList{} },
			PrepareForCreate: func(obj runtime.Object) { obj.(*appsv1.StatefulSet).Status = appsv1.StatefulSetStatus{} },
			Default:          func(obj runtime.Object) { DefaultStatefulSet(obj.(*appsv1.StatefulSet)) },
			Validate: func(obj runtime.Object) field.ErrorList {
				s := obj.(*appsv1.StatefulSet)
				return validateWorkload(s.Spec.Replicas, s.Spec.Selector, &s.Spec.Template)
			},
			Scale: &ScaleSpec{
				Get: func(obj runtime.Object) (int32, int32, *metav1.LabelSelector) {
					s := obj.(*appsv1.StatefulSet)
					return deref(s.Spec.Replicas, 1), s.Status.Replicas, s.Spec.Selector
				},
				Set: func(obj runtime.Object, n int32) { obj.(*appsv1.StatefulSet).Spec.Replicas = &n },
			},
			Table: statefulSetTable,
		},
		{
			GVR: gvr("coordination.k8s.io", "v1", "leases"), Kind: "Lease", ListKind: "LeaseList", Singular: "lease", Namespaced: true,
			AllowCreateOnUpdate: true,
			New:                 func() runtime.Object { return &coordinationv1.Lease{} }, NewList: func() runtime.Object { return &coordinationv1.LeaseList{} },
			Table: leaseTable,
		},
	}
}

func deref(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// DefaultPodSpec applies the defaults the Kubernetes API server applies.
func DefaultPodSpec(s *corev1.PodSpec) {
	if s.RestartPolicy == "" {
		s.RestartPolicy = corev1.RestartPolicyAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = corev1.DNSClusterFirst
	}
	if s.TerminationGracePeriodSeconds == nil {
		g := int64(30)
		s.TerminationGracePeriodSeconds = &g
	}
	if s.SchedulerName == "" {
		s.SchedulerName = corev1.DefaultSchedulerName
	}
	if s.SecurityContext == nil {
		s.SecurityContext = &corev1.PodSecurityContext{}
	}
	if s.EnableServiceLinks == nil {
		t := true
		s.EnableServiceLinks = &t
	}
	defaultContainers := func(cs []corev1.Container) {
		for i := range cs {
			c := &cs[i]
			if c.TerminationMessagePath == "" {
				c.TerminationMessagePath = corev1.TerminationMessagePathDefault
			}
			if c.TerminationMessagePolicy == "" {
				c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
			}
			if c.ImagePullPolicy == "" {
				c.ImagePullPolicy = corev1.PullIfNotPresent
				if img := c.Image; !strings.Contains(img[strings.LastIndex(img, "/")+1:], ":") || strings.HasSuffix(img, ":latest") {
					if !strings.Contains(img, "@") {
						c.ImagePullPolicy = corev1.PullAlways
					}
				}
			}
			for j := range c.Ports {
				if c.Ports[j].Protocol == "" {
					c.Ports[j].Protocol = corev1.ProtocolTCP
				}
			}
			for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
				defaultProbe(p)
			}
		}
	}
	defaultContainers(s.InitContainers)
	defaultContainers(s.Containers)
}

func defaultProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	if p.HTTPGet != nil {
		if p.HTTPGet.Path == "" {
			p.HTTPGet.Path = "/"
		}
		if p.HTTPGet.Scheme == "" {
			p.HTTPGet.Scheme = corev1.URISchemeHTTP
		}
	}
}

// DefaultDeployment applies the apps/v1 Deployment defaults.
func DefaultDeployment(d *appsv1.Deployment) {
	if d.Spec.Replicas == nil {
		one := int32(1)
		d.Spec.Replicas = &one
	}
	if d.Spec.Strategy.Type == "" {
		d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if d.Spec.Strategy.RollingUpdate == nil {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		q := intstr.FromString("25%")
		if d.Spec.Strategy.RollingUpdate.MaxSurge == nil {
			d.Spec.Strategy.RollingUpdate.MaxSurge = &q
		}
		if d.Spec.Strategy.RollingUpdate.MaxUnavailable == nil {
			u := q
			d.Spec.Strategy.RollingUpdate.MaxUnavailable = &u
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		ten := int32(10)
		d.Spec.RevisionHistoryLimit = &ten
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		p := int32(600)
		d.Spec.ProgressDeadlineSeconds = &p
	}
	DefaultPodSpec(&d.Spec.Template.Spec)
}

// DefaultStatefulSet applies the apps/v1 StatefulSet defaults.
func DefaultStatefulSet(s *appsv1.StatefulSet) {
	if s.Spec.Replicas == nil {
		one := int32(1)
		s.Spec.Replicas = &one
	}
	if s.Spec.PodManagementPolicy == "" {
		s.Spec.PodManagementPolicy = appsv1.OrderedReadyPodManagement
	}
	if s.Spec.UpdateStrategy.Type == "" {
		s.Spec.UpdateStrategy.Type = appsv1.RollingUpdateStatefulSetStrategyType
	}
	if s.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType {
		if s.Spec.UpdateStrategy.RollingUpdate == nil {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{}
		}
		if s.Spec.UpdateStrategy.RollingUpdate.Partition == nil {
			zero := int32(0)
			s.Spec.UpdateStrategy.RollingUpdate.Partition = &zero
		}
	}
	if s.Spec.RevisionHistoryLimit == nil {
		ten := int32(10)
		s.Spec.RevisionHistoryLimit = &ten
	}
	if s.Spec.PersistentVolumeClaimRetentionPolicy == nil {
		s.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		}
	}
	DefaultPodSpec(&s.Spec.Template.Spec)
}

// ValidatePodSpec checks what the rest of svcnet relies on.
func ValidatePodSpec(s *corev1.PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(s.Containers) == 0 {
		errs = append(errs, field.Required(p.Child("containers"), ""))
	}
	names := map[string]bool{}
	check := func(cs []corev1.Container, cp *field.Path) {
		for i, c := range cs {
			ip := cp.Index(i)
			if c.Name == "" {
				errs = append(errs, field.Required(ip.Child("name"), ""))
			} else {
				for _, msg := range validation.IsDNS1123Label(c.Name) {
					errs = append(errs, field.Invalid(ip.Child("name"), c.Name, msg))
				}
				if names[c.Name] {
					errs = append(errs, field.Duplicate(ip.Child("name"), c.Name))
				}
				names[c.Name] = true
			}
			if strings.TrimSpace(c.Image) == "" {
				errs = append(errs, field.Required(ip.Child("image"), ""))
			}
			for j, port := range c.Ports {
				pp := ip.Child("ports").Index(j)
				for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
					errs = append(errs, field.Invalid(pp.Child("containerPort"), port.ContainerPort, msg))
				}
				if port.Name != "" {
					for _, msg := range validation.IsValidPortName(port.Name) {
						errs = append(errs, field.Invalid(pp.Child("name"), port.Name, msg))
					}
				}
				errs = append(errs, validateProtocol(port.Protocol, pp.Child("protocol"))...)
			}
		}
	}
	check(s.InitContainers, p.Child("initContainers"))
	check(s.Containers, p.Child("containers"))
	switch s.RestartPolicy {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	default:
		errs = append(errs, field.NotSupported(p.Child("restartPolicy"), s.RestartPolicy, []string{"Always", "OnFailure", "Never"}))
	}
	if s.Hostname != "" {
		for _, msg := range validation.IsDNS1123Label(s.Hostname) {
			errs = append(errs, field.Invalid(p.Child("hostname"), s.Hostname, msg))
		}
	}
	if s.Subdomain != "" {
		for _, msg := range validation.IsDNS1123Label(s.Subdomain) {
			errs = append(errs, field.Invalid(p.Child("subdomain"), s.Subdomain, msg))
		}
	}
	return errs
}

func validateProtocol(proto corev1.Protocol, p *field.Path) field.ErrorList {
	switch proto {
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return nil
	}
	return field.ErrorList{field.NotSupported(p, proto, []string{"SCTP", "TCP", "UDP"})}
}

func validateWorkload(replicas *int32, sel *metav1.LabelSelector, tmpl *corev1.PodTemplateSpec) field.ErrorList {
	spec := field.NewPath("spec")
	var errs field.ErrorList
	if replicas != nil && *replicas < 0 {
		errs = append(errs, field.Invalid(spec.Child("replicas"), *replicas, "must be greater than or equal to 0"))
	}
	if sel == nil {
		errs = append(errs, field.Required(spec.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, spec.Child("selector"))...)
		if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(spec.Child("selector"), sel, "empty selector is invalid for deployment"))
		} else if s, err := metav1.LabelSelectorAsSelector(sel); err == nil && !s.Matches(labels.Set(tmpl.Labels)) {
			errs = append(errs, field.Invalid(spec.Child("template", "metadata", "labels"), tmpl.Labels, "`selector` does not match template `labels`"))
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(tmpl.Labels, spec.Child("template", "metadata", "labels"))...)
	errs = append(errs, ValidatePodSpec(&tmpl.Spec, spec.Child("template", "spec"))...)
	return errs
}

func validateEndpoints(obj runtime.Object) field.ErrorList {
	e := obj.(*corev1.Endpoints)
	var errs field.ErrorList
	for i, ss := range e.Subsets {
		sp := field.NewPath("subsets").Index(i)
		for j, a := range append(append([]corev1.EndpointAddress{}, ss.Addresses...), ss.NotReadyAddresses...) {
			for _, msg := range validation.IsValidIP(sp.Child("addresses").Index(j).Child("ip"), a.IP) {
				errs = append(errs, msg)
			}
		}
		for j, p := range ss.Ports {
			for _, msg := range validation.IsValidPortNum(int(p.Port)) {
				errs = append(errs, field.Invalid(sp.Child("ports").Index(j).Child("port"), p.Port, msg))
			}
		}
	}
	return errs
}

func validateEndpointSlice(obj runtime.Object) field.ErrorList {
	s := obj.(*discoveryv1.EndpointSlice)
	var errs field.ErrorList
	switch s.AddressType {
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	default:
		errs = append(errs, field.NotSupported(field.NewPath("addressType"), s.AddressType, []string{"IPv4", "IPv6", "FQDN"}))
	}
	if len(s.Endpoints) > 1000 {
		errs = append(errs, field.TooMany(field.NewPath("endpoints"), len(s.Endpoints), 1000))
	}
	for i, ep := range s.Endpoints {
		ep0 := field.NewPath("endpoints").Index(i)
		if len(ep.Addresses) == 0 || len(ep.Addresses) > 100 {
			errs = append(errs, field.Invalid(ep0.Child("addresses"), len(ep.Addresses), "must contain between 1 and 100 addresses"))
		}
		for j, a := range ep.Addresses {
			ap := ep0.Child("addresses").Index(j)
			switch s.AddressType {
			case discoveryv1.AddressTypeIPv4:
				if !isIPv(a, 4) {
					errs = append(errs, field.Invalid(ap, a, "must be a valid IPv4 address"))
				}
			case discoveryv1.AddressTypeIPv6:
				if !isIPv(a, 6) {
					errs = append(errs, field.Invalid(ap, a, "must be a valid IPv6 address"))
				}
			case discoveryv1.AddressTypeFQDN:
				for _, msg := range validation.IsFullyQualifiedDomainName(ap, a) {
					errs = append(errs, msg)
				}
			}
		}
		if ep.Hostname != nil {
			for _, msg := range validation.IsDNS1123Label(*ep.Hostname) {
				errs = append(errs, field.Invalid(ep0.Child("hostname"), *ep.Hostname, msg))
			}
		}
	}
	for i, p := range s.Ports {
		pp := field.NewPath("ports").Index(i)
		if p.Port != nil {
			for _, msg := range validation.IsInRange(int(*p.Port), 0, 65535) {
				errs = append(errs, field.Invalid(pp.Child("port"), *p.Port, msg))
			}
		}
		if p.Name != nil && *p.Name != "" {
			for _, msg := range validation.IsDNS1123Label(*p.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), *p.Name, msg))
			}
		}
		if p.Protocol != nil {
			errs = append(errs, validateProtocol(*p.Protocol, pp.Child("protocol"))...)
		}
	}
	return errs
}

func isIPv(s string, v int) bool {
	ip, err := parseAddr(s)
	if err != nil {
		return false
	}
	return (v == 4) == ip.Is4()
}

// Scale builds the autoscaling/v1 Scale view of an object.
func (r *Resource) ScaleOf(obj runtime.Object) (spec, status int32, selector string, err error) {
	if r.Scale == nil {
		return 0, 0, "", fmt.Errorf("%s has no scale subresource", r.GVR.Resource)
	}
	sp, st, sel := r.Scale.Get(obj)
	if sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err == nil {
			selector = s.String()
		}
	}
	return sp, st, selector, nil
}
