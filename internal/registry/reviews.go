package registry

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Reviews are create-only questions the API server answers and never
// stores: may I (`kubectl auth can-i`), what may I (`can-i --list`), may
// someone (SubjectAccessReview, for admins and proxies), who am I
// (`kubectl auth whoami`).
func reviewResources() []*Resource {
	review := func(group, resource, kind string, namespaced bool, newObj func() runtime.Object) *Resource {
		return &Resource{GVR: gvr(group, "v1", resource), Kind: kind, ListKind: kind + "List", Singular: resource[:len(resource)-1],
			Namespaced: namespaced, Review: true, New: newObj, NewList: func() runtime.Object { return nil }}
	}
	return []*Resource{
		review("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview", false, func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} }),
		review("authorization.k8s.io", "selfsubjectrulesreviews", "SelfSubjectRulesReview", false, func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} }),
		review("authorization.k8s.io", "subjectaccessreviews", "SubjectAccessReview", false, func() runtime.Object { return &authorizationv1.SubjectAccessReview{} }),
		review("authorization.k8s.io", "localsubjectaccessreviews", "LocalSubjectAccessReview", true, func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} }),
		review("authentication.k8s.io", "selfsubjectreviews", "SelfSubjectReview", false, func() runtime.Object { return &authenticationv1.SelfSubjectReview{} }),
	}
}
