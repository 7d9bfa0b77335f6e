package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestDefaultServiceAccounts: every namespace gets a ServiceAccount named
// default (again when it is deleted), and a pod without one runs as it.
func TestDefaultServiceAccounts(t *testing.T) {
	s := startServer(t, serverOpts{controllers: true})
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	for _, namespace := range []string{ns, "kube-system", "default"} {
		eventually(t, 10*time.Second, func() error {
			_, err := c.CoreV1().ServiceAccounts(namespace).Get(ctx, "default", metav1.GetOptions{})
			return err
		})
	}
	if err := c.CoreV1().ServiceAccounts(ns).Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		_, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	pod, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.ServiceAccountName != "default" || pod.Spec.DeprecatedServiceAccount != "default" {
		t.Fatalf("serviceAccountName %q / %q, want default", pod.Spec.ServiceAccountName, pod.Spec.DeprecatedServiceAccount)
	}
}

// TestServiceAccountTokens: TokenRequest issues a token the API accepts as
// the ServiceAccount (in its groups), bound to a pod when asked; it refuses
// a lifetime under ten minutes, a pod that runs as another account, and a
// token once its pod is gone; a pod gets Kubernetes' token volume.
func TestServiceAccountTokens(t *testing.T) {
	s := startServer(t, serverOpts{controllers: true})
	c := s.client(false)
	ctx := ctxT(t)
	ns := testNamespace(t, c)
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	asToken := func(tok string) kubernetes.Interface {
		cfg := rest.AnonymousClientConfig(s.restConfig(false))
		cfg.BearerToken = tok
		cc, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return cc
	}
	whoami := func(tok string) (string, []string, error) {
		r, err := asToken(tok).AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			return "", nil, err
		}
		return r.Status.UserInfo.Username, r.Status.UserInfo.Groups, nil
	}

	tr, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "app", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := tr.Status.ExpirationTimestamp.Sub(time.Now()); got < 59*time.Minute || got > 61*time.Minute {
		t.Fatalf("default lifetime %v, want an hour", got)
	}
	user, groups, err := whoami(tr.Status.Token)
	if err != nil || user != "system:serviceaccount:"+ns+":app" || !slices.Contains(groups, "system:serviceaccounts:"+ns) || !slices.Contains(groups, "system:authenticated") {
		t.Fatalf("token authenticates as %q %v (%v)", user, groups, err)
	}
	// RBAC applies: the account may list nothing until bound.
	if _, err := asToken(tr.Status.Token).CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("unbound account lists pods: %v", err)
	}

	short := int64(60)
	_, err = c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "app", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &short}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "may not specify a duration less than 10 minutes") {
		t.Fatalf("60s token: %v", err)
	}
	if _, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "nobody", &authenticationv1.TokenRequest{}, metav1.CreateOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("token of a missing account: %v", err)
	}

	pod, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{ServiceAccountName: "app", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var tokenVolume string
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") && v.Projected != nil && len(v.Projected.Sources) == 3 {
			tokenVolume = v.Name
		}
	}
	if m := pod.Spec.Containers[0].VolumeMounts; tokenVolume == "" || len(m) != 1 || m[0].Name != tokenVolume || m[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" || !m[0].ReadOnly {
		t.Fatalf("token volume %q, mounts %+v", tokenVolume, m)
	}
	bound := func(name string, uid types.UID) (*authenticationv1.TokenRequest, error) {
		return c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "p", UID: uid}}}, metav1.CreateOptions{})
	}
	eventually(t, 10*time.Second, func() error {
		_, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err
	})
	if _, err := bound("default", pod.UID); !apierrors.IsBadRequest(err) {
		t.Fatalf("a token of default bound to a pod running as app: %v", err)
	}
	if _, err := bound("app", "not-the-uid"); !apierrors.IsConflict(err) {
		t.Fatalf("a token bound to a stale pod UID: %v", err)
	}
	podToken, err := bound("app", pod.UID)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := whoami(podToken.Status.Token); err != nil {
		t.Fatalf("pod-bound token: %v", err)
	}
	zero := int64(0)
	if err := c.CoreV1().Pods(ns).Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error { // past the authenticator's short cache
		if _, _, err := whoami(podToken.Status.Token); !apierrors.IsUnauthorized(err) {
			return fmt.Errorf("a token of a deleted pod: %v", err)
		}
		return nil
	})

	// An account that opts out gets no token volume.
	no := false
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "quiet"}, AutomountServiceAccountToken: &no}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		p, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "q-"},
			Spec: corev1.PodSpec{ServiceAccountName: "quiet", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		if len(p.Spec.Volumes) != 0 {
			return fmt.Errorf("volumes %v for an account that opts out", p.Spec.Volumes)
		}
		return nil
	})
	// kube-root-ca.crt is published in the namespace.
	eventually(t, 10*time.Second, func() error {
		cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err == nil && !strings.Contains(cm.Data["ca.crt"], "BEGIN CERTIFICATE") {
			return fmt.Errorf("ca.crt %q", cm.Data["ca.crt"])
		}
		return err
	})
}
