// Package satoken issues and verifies ServiceAccount tokens as
// kube-apiserver does: JWTs signed with the cluster's service-account key
// (ES256), naming the ServiceAccount (and the pod they are bound to) in the
// claims client-go and Kubernetes' own authenticator read.
package satoken

import (
	"crypto/ecdsa"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"k8s.io/apimachinery/pkg/types"
)

// Issuer is the tokens' iss and the API's default audience, as
// kube-apiserver defaults --service-account-issuer.
const Issuer = "https://kubernetes.default.svc.cluster.local"

// MountPath is where a pod's token, CA and namespace are mounted
// (client-go's in-cluster config reads them there).
const MountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// UserPrefix starts a ServiceAccount's user name.
const UserPrefix = "system:serviceaccount:"

// Ref names an object a token is bound to.
type Ref struct {
	Name string    `json:"name"`
	UID  types.UID `json:"uid"`
}

// Kubernetes is the private claim Kubernetes puts in its tokens.
type Kubernetes struct {
	Namespace      string `json:"namespace"`
	ServiceAccount Ref    `json:"serviceaccount"`
	Pod            *Ref   `json:"pod,omitempty"`
	Node           *Ref   `json:"node,omitempty"`
}

// Claims of a token.
type Claims struct {
	jwt.RegisteredClaims
	Kubernetes Kubernetes `json:"kubernetes.io"`
}

// Subject is the ServiceAccount's user name.
func Subject(namespace, name string) string { return UserPrefix + namespace + ":" + name }

// Groups a ServiceAccount is in.
func Groups(namespace string) []string {
	return []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace}
}

// Signer issues and verifies tokens with one key.
type Signer struct {
	key *ecdsa.PrivateKey
	now func() time.Time
}

// NewSigner uses key; now may be nil (time.Now).
func NewSigner(key *ecdsa.PrivateKey, now func() time.Time) *Signer {
	if now == nil {
		now = time.Now
	}
	return &Signer{key: key, now: now}
}

// Issue signs a token for the ServiceAccount for audiences, valid for
// ttl, bound to pod when given.
func (s *Signer) Issue(namespace string, sa Ref, pod *Ref, audiences []string, ttl time.Duration) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(ttl)
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: Issuer, Subject: Subject(namespace, sa.Name), Audience: audiences,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp)},
		Kubernetes: Kubernetes{Namespace: namespace, ServiceAccount: sa, Pod: pod},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, c).SignedString(s.key)
	return tok, exp, err
}

// ErrNotServiceAccountToken: the token is not one of this issuer's (the
// caller may try other authenticators).
var ErrNotServiceAccountToken = errors.New("not a service account token")

// Verify checks a token's signature, issuer, time and that audience is
// among its audiences, and returns its claims.
func (s *Signer) Verify(token, audience string) (*Claims, error) {
	if strings.Count(token, ".") != 2 {
		return nil, ErrNotServiceAccountToken
	}
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}), jwt.WithIssuer(Issuer), jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now), jwt.WithLeeway(time.Minute))
	if err != nil {
		if errors.Is(err, jwt.ErrTokenMalformed) || errors.Is(err, jwt.ErrTokenInvalidIssuer) {
			return nil, ErrNotServiceAccountToken
		}
		return nil, fmt.Errorf("service account token: %w", err)
	}
	if !slices.Contains(c.Audience, audience) {
		return nil, errors.New("service account token: not for this audience")
	}
	if c.Subject != Subject(c.Kubernetes.Namespace, c.Kubernetes.ServiceAccount.Name) {
		return nil, errors.New("service account token: subject and claims disagree")
	}
	return &c, nil
}
