package registry

import (
	"context"
	"net/netip"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/svcnet/svcnet/internal/ipalloc"
)

// NodeStrategy gives each Node its pod CIDRs (one per cluster CIDR family)
// when it is created without them: node IPAM done in the Node's own create
// transaction, so two nodes never share a subnet.
type NodeStrategy struct {
	Subnets []*ipalloc.Subnets
}

// Allocate implements Claimer.
func (s *NodeStrategy) Allocate(ctx context.Context, obj, old runtime.Object, attempt int) ([]string, []string, error) {
	n := obj.(*corev1.Node)
	if old != nil {
		o := old.(*corev1.Node)
		if len(o.Spec.PodCIDRs) > 0 {
			n.Spec.PodCIDRs, n.Spec.PodCIDR = o.Spec.PodCIDRs, o.Spec.PodCIDR
		}
		return nil, nil, nil
	}
	if len(n.Spec.PodCIDRs) == 0 && n.Spec.PodCIDR == "" {
		for _, sub := range s.Subnets {
			p, err := sub.Pick(ctx, attempt)
			if err != nil {
				return nil, nil, apierrors.NewInternalError(err)
			}
			n.Spec.PodCIDRs = append(n.Spec.PodCIDRs, p.String())
		}
	}
	if n.Spec.PodCIDR == "" && len(n.Spec.PodCIDRs) > 0 {
		n.Spec.PodCIDR = n.Spec.PodCIDRs[0]
	}
	return s.Held(n), nil, nil
}

// Held implements Claimer.
func (s *NodeStrategy) Held(obj runtime.Object) []string {
	var keys []string
	for _, c := range obj.(*corev1.Node).Spec.PodCIDRs {
		if p, err := netip.ParsePrefix(c); err == nil {
			keys = append(keys, ipalloc.SubnetKey(p))
		}
	}
	return keys
}

// Taken implements Claimer.
func (s *NodeStrategy) Taken(obj runtime.Object, key string) error {
	n := obj.(*corev1.Node)
	return apierrors.NewInvalid(schema.GroupKind{Kind: "Node"}, n.Name, field.ErrorList{
		field.Invalid(field.NewPath("spec", "podCIDRs"), n.Spec.PodCIDRs, "the pod CIDR is already allocated to another node")})
}

// Validate checks pod CIDRs.
func (s *NodeStrategy) Validate(obj runtime.Object) field.ErrorList {
	n := obj.(*corev1.Node)
	var errs field.ErrorList
	for i, c := range n.Spec.PodCIDRs {
		if _, err := netip.ParsePrefix(c); err != nil {
			errs = append(errs, field.Invalid(field.NewPath("spec", "podCIDRs").Index(i), c, "must be a valid CIDR"))
		}
	}
	if len(n.Spec.PodCIDRs) > 0 && n.Spec.PodCIDR != n.Spec.PodCIDRs[0] {
		errs = append(errs, field.Invalid(field.NewPath("spec", "podCIDR"), n.Spec.PodCIDR, "must equal the first of spec.podCIDRs"))
	}
	return errs
}

// ValidateUpdate adds immutability of pod CIDRs once set.
func (s *NodeStrategy) ValidateUpdate(obj, old runtime.Object) field.ErrorList {
	errs := s.Validate(obj)
	n, o := obj.(*corev1.Node), old.(*corev1.Node)
	if len(o.Spec.PodCIDRs) > 0 && len(n.Spec.PodCIDRs) != len(o.Spec.PodCIDRs) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	return errs
}

// nodeResource is nodes: its kind, names, strategy (defaults, validation,
// selectable fields) and table.
func nodeResource(nodes *NodeStrategy) *Resource {
	return &Resource{
		GVR: gvr("", "v1", "nodes"), Kind: "Node", ListKind: "NodeList", Singular: "node",
		ShortNames: []string{"no"}, Subresources: []string{"status"},
		New: func() runtime.Object { return &corev1.Node{} }, NewList: func() runtime.Object { return &corev1.NodeList{} },
		Claims: nodes, Validate: nodes.Validate, ValidateUpdate: nodes.ValidateUpdate,
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"spec.unschedulable": strconv.FormatBool(obj.(*corev1.Node).Spec.Unschedulable)}
		},
		Table: nodeTable,
	}
}
