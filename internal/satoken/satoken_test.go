package satoken

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

func key(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestIssueAndVerify(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := NewSigner(key(t), clock)
	tok, exp, err := s.Issue("shop", Ref{Name: "app", UID: "sa-uid"}, &Ref{Name: "web-0", UID: "pod-uid"}, []string{Issuer}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("expires %v", exp)
	}
	c, err := s.Verify(tok, Issuer)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "system:serviceaccount:shop:app" || c.Kubernetes.ServiceAccount.UID != "sa-uid" || c.Kubernetes.Pod.Name != "web-0" {
		t.Fatalf("claims %+v", c)
	}

	if _, err := s.Verify(tok, "https://other.example"); err == nil || errors.Is(err, ErrNotServiceAccountToken) {
		t.Fatalf("another audience: %v", err)
	}
	if _, err := NewSigner(key(t), clock).Verify(tok, Issuer); err == nil || !strings.Contains(err.Error(), "signature") {
		t.Fatalf("another key: %v", err)
	}
	late := NewSigner(s.key, func() time.Time { return now.Add(2 * time.Hour) })
	if _, err := late.Verify(tok, Issuer); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired: %v", err)
	}
	for _, bad := range []string{"", "static-admin-token", "a.b", "a.b.c", tok[:len(tok)-4] + "AAAA"} {
		if _, err := s.Verify(bad, Issuer); err == nil {
			t.Fatalf("%q verified", bad)
		}
	}
	if _, err := s.Verify("static-admin-token", Issuer); !errors.Is(err, ErrNotServiceAccountToken) {
		t.Fatalf("a static token is not a service account token: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	s := NewSigner(func() *ecdsa.PrivateKey { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k }(), nil)
	tok, _, _ := s.Issue("ns", Ref{Name: "sa"}, nil, []string{Issuer}, time.Hour)
	f.Add(tok)
	f.Add("x.y.z")
	f.Fuzz(func(t *testing.T, in string) {
		if c, err := s.Verify(in, Issuer); err == nil && c.Kubernetes.ServiceAccount.Name == "" {
			t.Fatalf("verified a token naming no ServiceAccount: %q", in)
		}
	})
}
