package apiserver

import (
	"context"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcnet/svcnet/internal/rbac"
)

// serveReview answers a review (registry.Resource.Review): the question
// in the body's spec, the answer in the status of the object sent back,
// nothing stored.
func (s *Server) serveReview(rq *request) error {
	if rq.info.Verb != "create" || rq.info.Subresource != "" || rq.info.Name != "" {
		return apierrors.NewMethodNotSupported(rq.res.GroupResource(), rq.info.Verb)
	}
	wr, err := s.readWrite(rq, &metav1.CreateOptions{})
	if err != nil {
		return err
	}
	obj, _, err := s.bodyObject(rq, wr)
	if err != nil {
		return err
	}
	ctx := rq.r.Context()
	u := userFrom(ctx)
	switch o := obj.(type) {
	case *authorizationv1.SelfSubjectAccessReview:
		o.Status = s.accessReview(ctx, u, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
	case *authorizationv1.SubjectAccessReview:
		subject := User{Name: o.Spec.User, Groups: o.Spec.Groups}
		o.Status = s.accessReview(ctx, subject, o.Spec.ResourceAttributes, o.Spec.NonResourceAttributes)
	case *authorizationv1.LocalSubjectAccessReview:
		if ra := o.Spec.ResourceAttributes; ra == nil || ra.Namespace != rq.info.Namespace {
			return apierrors.NewBadRequest("spec.resourceAttributes.namespace must match the namespace of the request")
		}
		subject := User{Name: o.Spec.User, Groups: o.Spec.Groups}
		o.Status = s.accessReview(ctx, subject, o.Spec.ResourceAttributes, nil)
	case *authorizationv1.SelfSubjectRulesReview:
		o.Status = s.rulesReview(u, o.Spec.Namespace)
	case *authenticationv1.SelfSubjectReview:
		o.Status.UserInfo = authenticationv1.UserInfo{Username: u.Name, Groups: u.Groups}
	default:
		return apierrors.NewMethodNotSupported(rq.res.GroupResource(), "create")
	}
	m := obj.(metav1.Object)
	m.SetCreationTimestamp(metav1.Now())
	s.respond(rq, http.StatusCreated, obj)
	return nil
}

func (s *Server) accessReview(ctx context.Context, u User, ra *authorizationv1.ResourceAttributes, nra *authorizationv1.NonResourceAttributes) authorizationv1.SubjectAccessReviewStatus {
	var info RequestInfo
	method := "GET"
	switch {
	case ra != nil:
		info = RequestInfo{IsResource: true, Verb: ra.Verb, Namespace: ra.Namespace, APIGroup: ra.Group, Resource: ra.Resource,
			Subresource: ra.Subresource, Name: ra.Name}
	case nra != nil:
		info, method = RequestInfo{Path: nra.Path}, strings.ToUpper(nra.Verb)
	default:
		return authorizationv1.SubjectAccessReviewStatus{EvaluationError: "spec.resourceAttributes or spec.nonResourceAttributes is required"}
	}
	err := s.authorize(ctx, u, info, method)
	if err == nil {
		reason := "RBAC: allowed"
		if u.IsAdmin() {
			reason = "system:masters may do anything"
		}
		return authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: reason}
	}
	if apierrors.IsForbidden(err) {
		return authorizationv1.SubjectAccessReviewStatus{}
	}
	return authorizationv1.SubjectAccessReviewStatus{EvaluationError: err.Error()}
}

func (s *Server) rulesReview(u User, namespace string) authorizationv1.SubjectRulesReviewStatus {
	if u.IsAdmin() {
		return authorizationv1.SubjectRulesReviewStatus{
			ResourceRules:    []authorizationv1.ResourceRule{{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}}},
			NonResourceRules: []authorizationv1.NonResourceRule{{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}}},
		}
	}
	<-s.cache.synced
	resource, nonResource := rbac.Rules(s.cache, rbac.User{Name: u.Name, Groups: u.Groups}, namespace)
	var st authorizationv1.SubjectRulesReviewStatus
	for _, r := range resource {
		st.ResourceRules = append(st.ResourceRules, authorizationv1.ResourceRule{Verbs: r.Verbs, APIGroups: r.APIGroups, Resources: r.Resources, ResourceNames: r.ResourceNames})
	}
	for _, r := range nonResource {
		st.NonResourceRules = append(st.NonResourceRules, authorizationv1.NonResourceRule{Verbs: r.Verbs, NonResourceURLs: r.NonResourceURLs})
	}
	return st
}
