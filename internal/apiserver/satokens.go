package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/svcnet/svcnet/internal/satoken"
)

// ServiceAccount tokens: TokenRequest (serviceaccounts/token, `kubectl
// create token`) issues them, bound to a pod when asked; the authenticator
// accepts them while their ServiceAccount (and pod) still exist, as
// kube-apiserver does.

const (
	// minTokenTTL and defaultTokenTTL are Kubernetes' bounds.
	minTokenTTL     = 10 * time.Minute
	defaultTokenTTL = time.Hour
	maxTokenTTL     = 48 * time.Hour
	// legacyProjectedTTL is the lifetime pods' token volumes ask for, which
	// kube-apiserver extends to extendedTokenTTL.
	legacyProjectedTTL = 3607
	extendedTokenTTL   = 365 * 24 * time.Hour
	// tokenCacheTTL is how long a verified token's lookups are trusted.
	tokenCacheTTL = 10 * time.Second
)

// tokenCache remembers verified tokens briefly, so that a pod's client does
// not cost two etcd reads a request.
type tokenCache struct {
	mu      sync.Mutex
	entries map[string]tokenEntry
}

type tokenEntry struct {
	user    User
	expires time.Time
}

func (c *tokenCache) get(tok string, now time.Time) (User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[tok]
	if !ok || now.After(e.expires) {
		delete(c.entries, tok)
		return User{}, false
	}
	return e.user, true
}

func (c *tokenCache) put(tok string, u User, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) > 10000 {
		c.entries = map[string]tokenEntry{}
	}
	c.entries[tok] = tokenEntry{user: u, expires: until}
}

// authenticateServiceAccount accepts a token the cluster's key signed
// whose ServiceAccount, and pod if it is bound to one, exist with the UIDs
// it names.
func (s *Server) authenticateServiceAccount(ctx context.Context, tok string) (User, bool) {
	if s.cfg.ServiceAccounts == nil {
		return User{}, false
	}
	now := time.Now()
	if u, ok := s.saTokens.get(tok, now); ok {
		return u, true
	}
	c, err := s.cfg.ServiceAccounts.Verify(tok, satoken.Issuer)
	if err != nil {
		return User{}, false
	}
	ns := c.Kubernetes.Namespace
	if !s.exists(ctx, "serviceaccounts", ns, c.Kubernetes.ServiceAccount.Name, c.Kubernetes.ServiceAccount.UID) {
		return User{}, false
	}
	if p := c.Kubernetes.Pod; p != nil && !s.exists(ctx, "pods", ns, p.Name, p.UID) {
		return User{}, false
	}
	u := User{Name: c.Subject, Groups: satoken.Groups(ns)}.authenticated()
	until := now.Add(tokenCacheTTL)
	if exp := c.ExpiresAt.Time; exp.Before(until) {
		until = exp
	}
	s.saTokens.put(tok, u, until)
	return u, true
}

// exists: the object is there, with uid when one is given.
func (s *Server) exists(ctx context.Context, resource, ns, name string, uid types.UID) bool {
	res, ok := s.reg.Resource(schema.GroupResource{Resource: resource})
	if !ok {
		return false
	}
	obj, err := s.reg.Get(ctx, res, ns, name)
	if err != nil {
		return false
	}
	m, ok := obj.(metav1.Object)
	return ok && (uid == "" || m.GetUID() == uid)
}

// serveTokenRequest answers POST serviceaccounts/NAME/token.
func (s *Server) serveTokenRequest(rq *request) error {
	if rq.info.Verb != "create" {
		return apierrors.NewMethodNotSupported(rq.res.GroupResource(), rq.info.Verb)
	}
	if s.cfg.ServiceAccounts == nil {
		return apierrors.NewServiceUnavailable("this server issues no service account tokens")
	}
	ctx := rq.r.Context()
	data, err := readBody(rq.r)
	if err != nil {
		return err
	}
	tr := &authenticationv1.TokenRequest{}
	if err := s.codecs.decodeInto(rq.r.Header.Get("Content-Type"), data, tr); err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid TokenRequest: %v", err))
	}
	ns, name := rq.info.Namespace, rq.info.Name
	saObj, err := s.reg.Get(ctx, rq.res, ns, name)
	if err != nil {
		return err
	}
	sa := saObj.(*corev1.ServiceAccount)
	ttl := defaultTokenTTL
	if e := tr.Spec.ExpirationSeconds; e != nil {
		ttl = time.Duration(*e) * time.Second
	}
	var errs field.ErrorList
	if ttl < minTokenTTL {
		errs = append(errs, field.Invalid(field.NewPath("spec", "expirationSeconds"), ttl.Seconds(), "may not specify a duration less than 10 minutes"))
	}
	if ttl > maxTokenTTL {
		ttl = maxTokenTTL
	}
	// As --service-account-extend-token-expiration (on by default): the
	// 3607s token of a pod's projected volume lasts a year, so programs
	// that read it once keep working.
	extend := tr.Spec.ExpirationSeconds != nil && *tr.Spec.ExpirationSeconds == legacyProjectedTTL && tr.Spec.BoundObjectRef != nil
	var pod *satoken.Ref
	if ref := tr.Spec.BoundObjectRef; ref != nil {
		if ref.Kind != "Pod" {
			errs = append(errs, field.NotSupported(field.NewPath("spec", "boundObjectRef", "kind"), ref.Kind, []string{"Pod"}))
		} else {
			res, _ := s.reg.Resource(schema.GroupResource{Resource: "pods"})
			po, err := s.reg.Get(ctx, res, ns, ref.Name)
			if err != nil {
				return err
			}
			p := po.(*corev1.Pod)
			if ref.UID != "" && ref.UID != p.UID {
				return apierrors.NewConflict(res.GroupResource(), ref.Name, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record (%s). The object might have been deleted and then recreated", ref.UID, p.UID))
			}
			if p.Spec.ServiceAccountName != name {
				return apierrors.NewBadRequest(fmt.Sprintf("cannot bind a token for service account %s/%s to pod %s/%s, which runs as %s", ns, name, ns, p.Name, p.Spec.ServiceAccountName))
			}
			if n, isNode := nodeOf(userFrom(ctx)); isNode && p.Spec.NodeName != n {
				return apierrors.NewForbidden(rq.res.GroupResource(), name, fmt.Errorf("node %q may only request tokens for pods bound to it", n))
			}
			pod = &satoken.Ref{Name: p.Name, UID: p.UID}
		}
	} else if _, isNode := nodeOf(userFrom(ctx)); isNode {
		return apierrors.NewForbidden(rq.res.GroupResource(), name, fmt.Errorf("a node may only request tokens bound to its pods"))
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: "authentication.k8s.io", Kind: "TokenRequest"}, name, errs)
	}
	audiences := tr.Spec.Audiences
	if len(audiences) == 0 {
		audiences = []string{satoken.Issuer}
	}
	issued := ttl
	if extend {
		issued = extendedTokenTTL
	}
	tok, exp, err := s.cfg.ServiceAccounts.Issue(ns, satoken.Ref{Name: sa.Name, UID: sa.UID}, pod, audiences, issued)
	if err != nil {
		return err
	}
	tr.Name, tr.Namespace, tr.CreationTimestamp = name, ns, metav1.Now()
	tr.Spec.Audiences = audiences
	secs := int64(ttl.Seconds())
	tr.Spec.ExpirationSeconds = &secs
	tr.Status = authenticationv1.TokenRequestStatus{Token: tok, ExpirationTimestamp: metav1.NewTime(exp)}
	s.respond(rq, http.StatusCreated, tr)
	return nil
}
