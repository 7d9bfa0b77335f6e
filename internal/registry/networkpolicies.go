package registry

import (
	"net/netip"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// networkPolicyResource is networking.k8s.io/v1 networkpolicies, stored as
// Kubernetes validates them; svcnet's proxy does not enforce them (as a
// cluster whose network plug-in does not).
func networkPolicyResource() *Resource {
	return &Resource{
		GVR: gvr("networking.k8s.io", "v1", "networkpolicies"), Kind: "NetworkPolicy", ListKind: "NetworkPolicyList",
		Singular: "networkpolicy", Namespaced: true, ShortNames: []string{"netpol"},
		New:     func() runtime.Object { return &networkingv1.NetworkPolicy{} },
		NewList: func() runtime.Object { return &networkingv1.NetworkPolicyList{} },
		Default: func(obj runtime.Object) {
			s := &obj.(*networkingv1.NetworkPolicy).Spec
			for i := range s.Ingress {
				defaultPolicyPorts(s.Ingress[i].Ports)
			}
			for i := range s.Egress {
				defaultPolicyPorts(s.Egress[i].Ports)
			}
			if len(s.PolicyTypes) == 0 {
				s.PolicyTypes = []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}
				if len(s.Egress) > 0 {
					s.PolicyTypes = append(s.PolicyTypes, networkingv1.PolicyTypeEgress)
				}
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return ValidateNetworkPolicySpec(&obj.(*networkingv1.NetworkPolicy).Spec, field.NewPath("spec"))
		},
		Table: &TableSpec{
			Columns: []metav1.TableColumnDefinition{nameCol,
				col("Pod-Selector", "string", "Selects the pods to which this NetworkPolicy object applies.", 0), ageCol},
			Row: func(obj runtime.Object, now time.Time) []interface{} {
				np := obj.(*networkingv1.NetworkPolicy)
				name, age := nameAge(obj, now)
				sel := "<none>"
				if s, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector); err == nil {
					sel = orNone(s.String())
				}
				return []interface{}{name, sel, age}
			},
		},
	}
}

func defaultPolicyPorts(ports []networkingv1.NetworkPolicyPort) {
	for i := range ports {
		if ports[i].Protocol == nil {
			tcp := corev1.ProtocolTCP
			ports[i].Protocol = &tcp
		}
	}
}

// ValidateNetworkPolicySpec checks selectors, ports, CIDRs and policy types.
func ValidateNetworkPolicySpec(s *networkingv1.NetworkPolicySpec, p *field.Path) field.ErrorList {
	opts := metav1validation.LabelSelectorValidationOptions{}
	errs := metav1validation.ValidateLabelSelector(&s.PodSelector, opts, p.Child("podSelector"))
	peers := func(list []networkingv1.NetworkPolicyPeer, pp *field.Path) {
		for i, peer := range list {
			ip := pp.Index(i)
			n := 0
			if peer.PodSelector != nil {
				n++
				errs = append(errs, metav1validation.ValidateLabelSelector(peer.PodSelector, opts, ip.Child("podSelector"))...)
			}
			if peer.NamespaceSelector != nil {
				n++
				errs = append(errs, metav1validation.ValidateLabelSelector(peer.NamespaceSelector, opts, ip.Child("namespaceSelector"))...)
			}
			if b := peer.IPBlock; b != nil {
				if n > 0 {
					errs = append(errs, field.Forbidden(ip, "may not specify more than 1 peer type"))
				}
				n++
				cidr, err := netip.ParsePrefix(b.CIDR)
				if err != nil {
					errs = append(errs, field.Invalid(ip.Child("ipBlock", "cidr"), b.CIDR, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
				}
				for j, ex := range b.Except {
					e, err := netip.ParsePrefix(ex)
					if err != nil {
						errs = append(errs, field.Invalid(ip.Child("ipBlock", "except").Index(j), ex, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"))
					} else if cidr.IsValid() && (!cidr.Contains(e.Addr()) || e.Bits() <= cidr.Bits()) {
						errs = append(errs, field.Invalid(ip.Child("ipBlock", "except").Index(j), ex, "must be a strict subset of `cidr`"))
					}
				}
			}
			if n == 0 {
				errs = append(errs, field.Required(ip, "must specify a peer"))
			}
		}
	}
	ports := func(list []networkingv1.NetworkPolicyPort, pp *field.Path) {
		for i, port := range list {
			if port.Protocol != nil {
				errs = append(errs, validateProtocol(*port.Protocol, pp.Index(i).Child("protocol"))...)
			}
			if port.EndPort != nil {
				if port.Port == nil {
					errs = append(errs, field.Required(pp.Index(i).Child("port"), "must be specified when endPort is specified"))
				} else if port.Port.IntVal > *port.EndPort {
					errs = append(errs, field.Invalid(pp.Index(i).Child("endPort"), *port.EndPort, "must be greater than or equal to `port`"))
				}
			}
		}
	}
	for i, r := range s.Ingress {
		peers(r.From, p.Child("ingress").Index(i).Child("from"))
		ports(r.Ports, p.Child("ingress").Index(i).Child("ports"))
	}
	for i, r := range s.Egress {
		peers(r.To, p.Child("egress").Index(i).Child("to"))
		ports(r.Ports, p.Child("egress").Index(i).Child("ports"))
	}
	for i, t := range s.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			errs = append(errs, field.NotSupported(p.Child("policyTypes").Index(i), t, []string{"Ingress", "Egress"}))
		}
	}
	if len(s.PolicyTypes) > 2 {
		errs = append(errs, field.Invalid(p.Child("policyTypes"), s.PolicyTypes, "may not specify more than two policyTypes"))
	}
	return errs
}
