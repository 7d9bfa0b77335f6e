package apiserver

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/svcnet/svcnet/internal/pki"
	"github.com/svcnet/svcnet/internal/registry"
)

// nodeOf returns the node a user speaks for, if it is a node's agent: as
// Kubernetes names a kubelet, user system:node:NAME in group system:nodes.
func nodeOf(u User) (string, bool) {
	name, ok := strings.CutPrefix(u.Name, pki.NodeUserPrefix)
	if !ok || name == "" {
		return "", false
	}
	for _, g := range u.Groups {
		if g == pki.NodesGroup {
			return name, true
		}
	}
	return "", false
}

// authorizeNode is what a node's agent may do, as Kubernetes' Node
// authorizer and NodeRestriction admission let a kubelet: read (Secrets
// aside: no pod of svcnet's runtimes reads them through its node), write its
// own Node and Lease, the status of the pods bound to it and their
// deletion, and events. Nothing else.
func (s *Server) authorizeNode(ctx context.Context, node string, u User, info RequestInfo) error {
	verb := info.Verb
	if info.Subresource == "attach" || info.Subresource == "exec" {
		verb = "create"
	}
	deny := func(why string) error {
		res := info.Resource
		if info.Subresource != "" {
			res += "/" + info.Subresource
		}
		return apierrors.NewForbidden(schema.GroupResource{Group: info.APIGroup, Resource: info.Resource}, info.Name,
			fmt.Errorf("User %q cannot %s resource %q in API group %q: %s", u.Name, verb, res, info.APIGroup, why))
	}
	switch verb {
	case "get", "list", "watch":
		if info.APIGroup == "" && info.Resource == "secrets" {
			// As the Node authorizer: a Secret one of its pods uses, by name.
			if verb == "get" && s.podUsesSecret(ctx, node, info.Namespace, info.Name) {
				return nil
			}
			return deny("a node reads only the Secrets its pods use")
		}
		return nil
	}
	switch {
	case info.APIGroup == "" && info.Resource == "nodes":
		switch {
		case verb == "create":
			return nil // the body's name is checked by admitNode
		case verb == "deletecollection":
			return deny("a node may only touch its own Node")
		case info.Name != node:
			return deny("a node may only touch its own Node")
		}
		return nil
	case info.APIGroup == "coordination.k8s.io" && info.Resource == "leases":
		switch {
		case info.Namespace != corev1.NamespaceNodeLease:
			return deny("a node may only touch its own Lease in " + corev1.NamespaceNodeLease)
		case verb == "create":
			return nil // admitNode checks the name
		case verb == "deletecollection" || info.Name != node:
			return deny("a node may only touch its own Lease")
		}
		return nil
	case info.APIGroup == "" && info.Resource == "pods":
		ok := info.Subresource == "status" && (verb == "update" || verb == "patch") || info.Subresource == "" && verb == "delete"
		if !ok {
			return deny("a node may only write the status of the pods bound to it, and delete them")
		}
		res, _ := s.reg.Resource(schema.GroupResource{Resource: "pods"})
		obj, err := s.reg.Get(ctx, res, info.Namespace, info.Name)
		if apierrors.IsNotFound(err) {
			return err
		}
		if err != nil {
			return err
		}
		if obj.(*corev1.Pod).Spec.NodeName != node {
			return deny(fmt.Sprintf("the pod is not bound to node %q", node))
		}
		return nil
	case info.APIGroup == "" && info.Resource == "serviceaccounts" && info.Subresource == "token" && verb == "create":
		return nil // serveTokenRequest binds the token to a pod of this node or refuses
	case info.APIGroup == "" && info.Resource == "events", info.APIGroup == "events.k8s.io" && info.Resource == "events":
		if verb == "create" || verb == "update" || verb == "patch" {
			return nil
		}
	}
	return deny("not something a node does")
}

// admitNode checks what a node creates: only its own Node and Lease.
func admitNode(u User, res *registry.Resource, obj any) error {
	node, ok := nodeOf(u)
	if !ok {
		return nil
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil
	}
	switch res.GVR.Resource {
	case "nodes", "leases":
		if m.GetName() != node {
			return apierrors.NewForbidden(res.GroupResource(), m.GetName(),
				fmt.Errorf("node %q may not create %s %q: only its own", node, res.GVR.Resource, m.GetName()))
		}
	}
	return nil
}

// podUsesSecret reports whether a pod bound to node in namespace uses the
// Secret name (env, envFrom, volumes, image pull secrets).
func (s *Server) podUsesSecret(ctx context.Context, node, namespace, name string) bool {
	res, ok := s.reg.Resource(schema.GroupResource{Resource: "pods"})
	if !ok || name == "" {
		return false
	}
	list, err := s.reg.List(ctx, res, namespace, registry.ListOptions{})
	if err != nil {
		return false
	}
	for _, obj := range list.Items {
		p := obj.(*corev1.Pod)
		if p.Spec.NodeName == node && usesSecret(&p.Spec, name) {
			return true
		}
	}
	return false
}

func usesSecret(spec *corev1.PodSpec, name string) bool {
	for _, r := range spec.ImagePullSecrets {
		if r.Name == name {
			return true
		}
	}
	for _, v := range spec.Volumes {
		if v.Secret != nil && v.Secret.SecretName == name {
			return true
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil && src.Secret.Name == name {
					return true
				}
			}
		}
	}
	for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for _, c := range cs {
			for _, e := range c.EnvFrom {
				if e.SecretRef != nil && e.SecretRef.Name == name {
					return true
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == name {
					return true
				}
			}
		}
	}
	return false
}
