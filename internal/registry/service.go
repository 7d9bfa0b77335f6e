package registry

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	apivalidation "k8s.io/apimachinery/pkg/api/validation"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/svcnet/svcnet/internal/ipalloc"
)

func parseAddr(s string) (netip.Addr, error) { return netip.ParseAddr(s) }

// ServiceStrategy defaults and validates Services as Kubernetes does and
// allocates their ClusterIPs and NodePorts.
type ServiceStrategy struct {
	IPs   *ipalloc.Allocator
	Ports *ipalloc.PortRange
}

var serviceGK = schema.GroupKind{Kind: "Service"}

func hasClusterIP(t corev1.ServiceType) bool { return t != corev1.ServiceTypeExternalName }

// Default fills the fields Kubernetes defaults.
func (s *ServiceStrategy) Default(obj runtime.Object) {
	svc := obj.(*corev1.Service)
	sp := &svc.Spec
	if sp.Type == "" {
		sp.Type = corev1.ServiceTypeClusterIP
	}
	if sp.SessionAffinity == "" {
		sp.SessionAffinity = corev1.ServiceAffinityNone
	}
	if sp.SessionAffinity == corev1.ServiceAffinityClientIP {
		if sp.SessionAffinityConfig == nil {
			sp.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}
		if sp.SessionAffinityConfig.ClientIP == nil {
			sp.SessionAffinityConfig.ClientIP = &corev1.ClientIPConfig{}
		}
		if sp.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			t := corev1.DefaultClientIPServiceAffinitySeconds
			sp.SessionAffinityConfig.ClientIP.TimeoutSeconds = &t
		}
	}
	for i := range sp.Ports {
		p := &sp.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == (intstr.IntOrString{}) {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	if sp.Type == corev1.ServiceTypeExternalName {
		return
	}
	if sp.InternalTrafficPolicy == nil {
		c := corev1.ServiceInternalTrafficPolicyCluster
		sp.InternalTrafficPolicy = &c
	}
	if (sp.Type == corev1.ServiceTypeNodePort || sp.Type == corev1.ServiceTypeLoadBalancer) && sp.ExternalTrafficPolicy == "" {
		sp.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if sp.Type == corev1.ServiceTypeLoadBalancer && sp.AllocateLoadBalancerNodePorts == nil {
		t := true
		sp.AllocateLoadBalancerNodePorts = &t
	}
	if sp.ClusterIP != "" && len(sp.ClusterIPs) == 0 {
		sp.ClusterIPs = []string{sp.ClusterIP}
	}
	if len(sp.ClusterIPs) > 0 && sp.ClusterIP == "" {
		sp.ClusterIP = sp.ClusterIPs[0]
	}
	families := s.IPs.Families()
	headless := sp.ClusterIP == corev1.ClusterIPNone
	if sp.IPFamilyPolicy == nil {
		pol := corev1.IPFamilyPolicySingleStack
		switch {
		case len(sp.IPFamilies) > 1 || len(sp.ClusterIPs) > 1:
			pol = corev1.IPFamilyPolicyPreferDualStack
		case headless && len(sp.Selector) == 0 && len(families) > 1:
			pol = corev1.IPFamilyPolicyRequireDualStack
		}
		sp.IPFamilyPolicy = &pol
	}
	if len(sp.IPFamilies) == 0 {
		for _, ip := range sp.ClusterIPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				sp.IPFamilies = append(sp.IPFamilies, corev1.IPFamily(ipalloc.Family(a)))
			}
		}
	}
	if len(sp.IPFamilies) == 0 {
		sp.IPFamilies = []corev1.IPFamily{corev1.IPFamily(families[0])}
	}
	if *sp.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack && len(sp.IPFamilies) == 1 && len(families) > 1 {
		for _, f := range families {
			if corev1.IPFamily(f) != sp.IPFamilies[0] {
				sp.IPFamilies = append(sp.IPFamilies, corev1.IPFamily(f))
			}
		}
	}
	if headless {
		sp.ClusterIPs = []string{corev1.ClusterIPNone}
	}
}

// Validate checks a Service as Kubernetes does, with field paths.
func (s *ServiceStrategy) Validate(obj runtime.Object) field.ErrorList {
	svc := obj.(*corev1.Service)
	sp := &svc.Spec
	spec := field.NewPath("spec")
	var errs field.ErrorList
	switch sp.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName:
	default:
		errs = append(errs, field.NotSupported(spec.Child("type"), sp.Type, []string{"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"}))
	}
	headless := sp.ClusterIP == corev1.ClusterIPNone
	if sp.Type == corev1.ServiceTypeExternalName {
		name := strings.TrimSuffix(sp.ExternalName, ".")
		if name == "" {
			errs = append(errs, field.Required(spec.Child("externalName"), ""))
		} else {
			for _, msg := range validation.IsDNS1123Subdomain(name) {
				errs = append(errs, field.Invalid(spec.Child("externalName"), sp.ExternalName, msg))
			}
		}
		if sp.ClusterIP != "" && !headless {
			errs = append(errs, field.Forbidden(spec.Child("clusterIP"), "may not be set for ExternalName services"))
		}
	} else if len(sp.Ports) == 0 && !headless {
		errs = append(errs, field.Required(spec.Child("ports"), ""))
	}
	if headless && sp.Type != corev1.ServiceTypeClusterIP && sp.Type != corev1.ServiceTypeExternalName {
		errs = append(errs, field.Invalid(spec.Child("clusterIPs").Index(0), "None", fmt.Sprintf("may not be set to 'None' for %s services", sp.Type)))
	}
	if len(sp.ClusterIPs) > 0 && sp.ClusterIP != sp.ClusterIPs[0] {
		errs = append(errs, field.Invalid(spec.Child("clusterIPs").Index(0), sp.ClusterIPs, "must be empty or the same value as spec.clusterIP"))
	}
	if len(sp.ClusterIPs) > 2 {
		errs = append(errs, field.Invalid(spec.Child("clusterIPs"), sp.ClusterIPs, "may only hold up to 2 values"))
	}
	for i, ip := range sp.ClusterIPs {
		if ip == corev1.ClusterIPNone {
			if i > 0 || len(sp.ClusterIPs) > 1 {
				errs = append(errs, field.Invalid(spec.Child("clusterIPs").Index(i), ip, "'None' must be the first and only value"))
			}
			continue
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			errs = append(errs, field.Invalid(spec.Child("clusterIPs").Index(i), ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
			continue
		}
		r, ok := s.IPs.Range(ipalloc.Family(a))
		if !ok || !r.Contains(a) {
			// As kube-apiserver's allocator says it: on the whole list.
			errs = append(errs, field.Invalid(spec.Child("clusterIPs"), sp.ClusterIPs, fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", ip, ip, s.serviceCIDRs())))
		}
	}
	if sp.IPFamilyPolicy != nil {
		switch *sp.IPFamilyPolicy {
		case corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack, corev1.IPFamilyPolicyRequireDualStack:
		default:
			errs = append(errs, field.NotSupported(spec.Child("ipFamilyPolicy"), *sp.IPFamilyPolicy, []string{"PreferDualStack", "RequireDualStack", "SingleStack"}))
		}
		if *sp.IPFamilyPolicy == corev1.IPFamilyPolicyRequireDualStack && len(s.IPs.Families()) < 2 && hasClusterIP(sp.Type) {
			errs = append(errs, field.Invalid(spec.Child("ipFamilyPolicy"), *sp.IPFamilyPolicy, "this cluster is not configured for dual-stack services"))
		}
		if *sp.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack && len(sp.IPFamilies) > 1 {
			errs = append(errs, field.Invalid(spec.Child("ipFamilies"), sp.IPFamilies, "when spec.ipFamilyPolicy is SingleStack, only one ipFamily may be specified"))
		}
	}
	for i, f := range sp.IPFamilies {
		if f != corev1.IPv4Protocol && f != corev1.IPv6Protocol {
			errs = append(errs, field.NotSupported(spec.Child("ipFamilies").Index(i), f, []string{"IPv4", "IPv6"}))
		} else if _, ok := s.IPs.Range(string(f)); !ok && hasClusterIP(sp.Type) && !headless {
			errs = append(errs, field.Invalid(spec.Child("ipFamilies").Index(i), f, "not configured on this cluster"))
		}
	}
	names := map[string]bool{}
	portProto := map[string]bool{}
	for i, p := range sp.Ports {
		pp := spec.Child("ports").Index(i)
		if len(sp.Ports) > 1 && p.Name == "" {
			errs = append(errs, field.Required(pp.Child("name"), ""))
		}
		if p.Name != "" {
			for _, msg := range validation.IsDNS1123Label(p.Name) {
				errs = append(errs, field.Invalid(pp.Child("name"), p.Name, msg))
			}
			if names[p.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), p.Name))
			}
			names[p.Name] = true
		}
		for _, msg := range validation.IsValidPortNum(int(p.Port)) {
			errs = append(errs, field.Invalid(pp.Child("port"), p.Port, msg))
		}
		errs = append(errs, validateProtocol(p.Protocol, pp.Child("protocol"))...)
		key := strconv.Itoa(int(p.Port)) + "/" + string(p.Protocol)
		if portProto[key] {
			errs = append(errs, field.Duplicate(pp, key))
		}
		portProto[key] = true
		switch p.TargetPort.Type {
		case intstr.Int:
			for _, msg := range validation.IsValidPortNum(p.TargetPort.IntValue()) {
				errs = append(errs, field.Invalid(pp.Child("targetPort"), p.TargetPort.IntValue(), msg))
			}
		case intstr.String:
			for _, msg := range validation.IsValidPortName(p.TargetPort.StrVal) {
				errs = append(errs, field.Invalid(pp.Child("targetPort"), p.TargetPort.StrVal, msg))
			}
		}
		if p.NodePort != 0 {
			if sp.Type != corev1.ServiceTypeNodePort && sp.Type != corev1.ServiceTypeLoadBalancer {
				errs = append(errs, field.Forbidden(pp.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			} else if !s.Ports.Contains(int(p.NodePort)) {
				errs = append(errs, field.Invalid(pp.Child("nodePort"), p.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", s.Ports.Base, s.Ports.Base+s.Ports.Size-1)))
			}
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(sp.Selector, spec.Child("selector"))...)
	switch sp.SessionAffinity {
	case corev1.ServiceAffinityNone, corev1.ServiceAffinityClientIP:
	default:
		errs = append(errs, field.NotSupported(spec.Child("sessionAffinity"), sp.SessionAffinity, []string{"ClientIP", "None"}))
	}
	if c := sp.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil {
		if t := *c.ClientIP.TimeoutSeconds; t <= 0 || t > 86400 {
			errs = append(errs, field.Invalid(spec.Child("sessionAffinityConfig", "clientIP", "timeoutSeconds"), t, "must be greater than 0 and less than 86400"))
		}
	}
	if p := sp.InternalTrafficPolicy; p != nil && *p != corev1.ServiceInternalTrafficPolicyCluster && *p != corev1.ServiceInternalTrafficPolicyLocal {
		errs = append(errs, field.NotSupported(spec.Child("internalTrafficPolicy"), *p, []string{"Cluster", "Local"}))
	}
	if hc := sp.HealthCheckNodePort; hc != 0 {
		if !NeedsHealthCheck(sp) {
			errs = append(errs, field.Invalid(spec.Child("healthCheckNodePort"), hc, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
		} else if !s.Ports.Contains(int(hc)) {
			errs = append(errs, field.Invalid(spec.Child("healthCheckNodePort"), hc, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", s.Ports.Base, s.Ports.Base+s.Ports.Size-1)))
		}
	}
	if d := sp.TrafficDistribution; d != nil {
		valid := []string{corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameZone, corev1.ServiceTrafficDistributionPreferSameNode}
		if !slices.Contains(valid, *d) {
			errs = append(errs, field.NotSupported(spec.Child("trafficDistribution"), *d, valid))
		}
	}
	for i, ip := range sp.ExternalIPs {
		if _, err := netip.ParseAddr(ip); err != nil {
			errs = append(errs, field.Invalid(spec.Child("externalIPs").Index(i), ip, "must be a valid IP address"))
		}
	}
	return errs
}

// ValidateUpdate adds the immutability rules.
func (s *ServiceStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	n, o := obj.(*corev1.Service), old.(*corev1.Service)
	errs := s.Validate(obj)
	if hasClusterIP(n.Spec.Type) && hasClusterIP(o.Spec.Type) {
		for i := range min(len(n.Spec.ClusterIPs), len(o.Spec.ClusterIPs)) {
			if n.Spec.ClusterIPs[i] != o.Spec.ClusterIPs[i] {
				errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(i), n.Spec.ClusterIPs, "may not change once set"))
			}
		}
		// clusterIP is clusterIPs[0]: a change is reported there (as changed,
		// or as not matching clusterIP), once, as Kubernetes does.
		if n.Spec.ClusterIP != o.Spec.ClusterIP && len(n.Spec.ClusterIPs) == 0 && len(o.Spec.ClusterIPs) == 0 {
			errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIP"), n.Spec.ClusterIP, "field is immutable"))
		}
	}
	return errs
}

func (s *ServiceStrategy) serviceCIDRs() string {
	var out []string
	for _, f := range s.IPs.Families() {
		r, _ := s.IPs.Range(f)
		out = append(out, r.Prefix.String())
	}
	return strings.Join(out, ",")
}

// Allocate implements Claimer: ClusterIPs for every family the Service
// needs, NodePorts for NodePort and LoadBalancer ports.
func (s *ServiceStrategy) Allocate(ctx context.Context, obj, old runtime.Object, attempt int) ([]string, []string, error) {
	svc := obj.(*corev1.Service)
	sp := &svc.Spec
	var oldSvc *corev1.Service
	if old != nil {
		oldSvc = old.(*corev1.Service)
	}
	held := map[string]bool{}
	if oldSvc != nil {
		for _, k := range s.Held(oldSvc) {
			held[k] = true
		}
	}
	if hasClusterIP(sp.Type) && sp.ClusterIP != corev1.ClusterIPNone {
		if oldSvc != nil && hasClusterIP(oldSvc.Spec.Type) && len(sp.ClusterIPs) == 0 {
			sp.ClusterIPs = append([]string(nil), oldSvc.Spec.ClusterIPs...)
			sp.ClusterIP = oldSvc.Spec.ClusterIP
		}
		want := 1
		if p := sp.IPFamilyPolicy; p != nil && *p != corev1.IPFamilyPolicySingleStack && len(s.IPs.Families()) > 1 {
			want = 2
		}
		for i := len(sp.ClusterIPs); i < want && i < len(sp.IPFamilies); i++ {
			ip, err := s.IPs.Pick(ctx, string(sp.IPFamilies[i]), attempt)
			if err != nil {
				return nil, nil, apierrors.NewInternalError(err)
			}
			sp.ClusterIPs = append(sp.ClusterIPs, ip.String())
		}
		if len(sp.ClusterIPs) > 0 && sp.ClusterIP == "" {
			// Only filled in: a clusterIP the writer changed stays changed,
			// for validation to refuse (it is immutable).
			sp.ClusterIP = sp.ClusterIPs[0]
		}
	} else if !hasClusterIP(sp.Type) {
		if sp.ClusterIP != corev1.ClusterIPNone {
			sp.ClusterIP, sp.ClusterIPs = "", nil
		}
		sp.IPFamilies, sp.IPFamilyPolicy, sp.InternalTrafficPolicy = nil, nil, nil
	}
	if sp.Type == corev1.ServiceTypeNodePort || (sp.Type == corev1.ServiceTypeLoadBalancer && (sp.AllocateLoadBalancerNodePorts == nil || *sp.AllocateLoadBalancerNodePorts)) {
		for i := range sp.Ports {
			p := &sp.Ports[i]
			if p.NodePort == 0 && oldSvc != nil {
				for _, op := range oldSvc.Spec.Ports {
					if op.Port == p.Port && op.Protocol == p.Protocol && op.NodePort != 0 {
						p.NodePort = op.NodePort
					}
				}
			}
			if p.NodePort == 0 {
				n, err := s.Ports.Pick(ctx, string(p.Protocol), attempt)
				if err != nil {
					return nil, nil, apierrors.NewInternalError(err)
				}
				p.NodePort = int32(n)
			}
		}
	} else if sp.Type == corev1.ServiceTypeClusterIP || sp.Type == corev1.ServiceTypeExternalName {
		for i := range sp.Ports {
			sp.Ports[i].NodePort = 0
		}
	}
	if NeedsHealthCheck(sp) {
		if sp.HealthCheckNodePort == 0 && oldSvc != nil {
			sp.HealthCheckNodePort = oldSvc.Spec.HealthCheckNodePort
		}
		for try := 0; sp.HealthCheckNodePort == 0 && try < 10; try++ {
			n, err := s.Ports.Pick(ctx, string(corev1.ProtocolTCP), attempt+try)
			if err != nil {
				return nil, nil, apierrors.NewInternalError(err)
			}
			if !slices.ContainsFunc(sp.Ports, func(p corev1.ServicePort) bool { return p.NodePort == int32(n) && p.Protocol == corev1.ProtocolTCP }) {
				sp.HealthCheckNodePort = int32(n)
			}
		}
	} else {
		sp.HealthCheckNodePort = 0
	}
	now := map[string]bool{}
	for _, k := range s.Held(svc) {
		now[k] = true
	}
	var take, release []string
	for k := range now {
		if !held[k] {
			take = append(take, k)
		}
	}
	for k := range held {
		if !now[k] {
			release = append(release, k)
		}
	}
	return take, release, nil
}

// Held implements Claimer.
func (s *ServiceStrategy) Held(obj runtime.Object) []string {
	svc := obj.(*corev1.Service)
	var keys []string
	if hasClusterIP(svc.Spec.Type) {
		for _, ip := range svc.Spec.ClusterIPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				keys = append(keys, ipalloc.Key(a))
			}
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort != 0 {
			keys = append(keys, ipalloc.PortKey(string(p.Protocol), int(p.NodePort)))
		}
	}
	if hc := svc.Spec.HealthCheckNodePort; hc != 0 {
		keys = append(keys, ipalloc.PortKey(string(corev1.ProtocolTCP), int(hc)))
	}
	return keys
}

// NeedsHealthCheck: a LoadBalancer Service with externalTrafficPolicy
// Local has a healthCheckNodePort, where each node's proxy says whether
// it has endpoints of the Service (kube-proxy's answer).
func NeedsHealthCheck(sp *corev1.ServiceSpec) bool {
	return sp.Type == corev1.ServiceTypeLoadBalancer && sp.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

// Taken implements Claimer: the Invalid error for a value the client asked for.
func (s *ServiceStrategy) Taken(obj runtime.Object, key string) error {
	svc := obj.(*corev1.Service)
	for _, ip := range svc.Spec.ClusterIPs {
		if a, err := netip.ParseAddr(ip); err == nil && ipalloc.Key(a) == key {
			return apierrors.NewInvalid(serviceGK, svc.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "clusterIPs"), svc.Spec.ClusterIPs,
				fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip))})
		}
	}
	for i, p := range svc.Spec.Ports {
		if p.NodePort != 0 && ipalloc.PortKey(string(p.Protocol), int(p.NodePort)) == key {
			return apierrors.NewInvalid(serviceGK, svc.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "ports").Index(i).Child("nodePort"), p.NodePort,
				"provided port is already allocated")})
		}
	}
	if hc := svc.Spec.HealthCheckNodePort; hc != 0 && ipalloc.PortKey(string(corev1.ProtocolTCP), int(hc)) == key {
		return apierrors.NewInvalid(serviceGK, svc.Name, field.ErrorList{field.Invalid(field.NewPath("spec", "healthCheckNodePort"), hc,
			"provided port is already allocated")})
	}
	return apierrors.NewInternalError(fmt.Errorf("claim %s is held by another object", key))
}

// serviceResource is services: its kind, names, strategy (defaults, validation,
// selectable fields) and table.
func serviceResource(services *ServiceStrategy) *Resource {
	return &Resource{
		GVR: gvr("", "v1", "services"), Kind: "Service", ListKind: "ServiceList", Singular: "service", Namespaced: true,
		ShortNames: []string{"svc"}, Categories: []string{"all"}, Subresources: []string{"status"},
		NameFunc: apivalidation.NameIsDNS1035Label,
		New:      func() runtime.Object { return &corev1.Service{} }, NewList: func() runtime.Object { return &corev1.ServiceList{} },
		PrepareForCreate: func(obj runtime.Object) { obj.(*corev1.Service).Status = corev1.ServiceStatus{} },
		Default:          services.Default,
		Validate:         services.Validate,
		ValidateUpdate:   services.ValidateUpdate,
		Fields: func(obj runtime.Object) fields.Set {
			s := obj.(*corev1.Service)
			return fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)}
		},
		Claims: services,
		Table:  serviceTable,
	}
}
