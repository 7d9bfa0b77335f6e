package registry

import (
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

// namespaceResource is namespaces: its kind, names, strategy (defaults, validation,
// selectable fields) and table.
func namespaceResource() *Resource {
	return &Resource{
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
	}
}
