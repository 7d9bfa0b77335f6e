package registry

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestSecrets(t *testing.T) {
	res := secretResource()
	// stringData is merged into data (and wins), then dropped; the type
	// defaults to Opaque.
	s := &corev1.Secret{Data: map[string][]byte{"a": []byte("old"), "b": []byte("kept")}, StringData: map[string]string{"a": "new"}}
	res.Default(s)
	if string(s.Data["a"]) != "new" || string(s.Data["b"]) != "kept" || s.StringData != nil || s.Type != corev1.SecretTypeOpaque {
		t.Fatalf("defaulted: %+v", s)
	}
	cases := []struct {
		name   string
		secret *corev1.Secret
		want   string
	}{
		{"opaque", &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"x": nil}}, ""},
		{"tls without its key", &corev1.Secret{Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: []byte("c")}}, "data[tls.key]: Required value"},
		{"a bad key", &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a/b": nil}}, `data[a/b]: Invalid value`},
		{"basic auth without either", &corev1.Secret{Type: corev1.SecretTypeBasicAuth}, "data[username]: Required value"},
		{"too big", &corev1.Secret{Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"x": make([]byte, MaxConfigSize+1)}}, "Too long"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := res.Validate(tc.secret)
			if tc.want == "" {
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				return
			}
			if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("errors %v, want %q", errs, tc.want)
			}
		})
	}
	// Immutable: the data and the flag stay; the type never changes.
	yes := true
	old := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Type: corev1.SecretTypeOpaque, Immutable: &yes, Data: map[string][]byte{"a": []byte("1")}}
	changed := old.DeepCopy()
	changed.Data["a"] = []byte("2")
	changed.Type = "other"
	errs := res.ValidateUpdate(changed, old).ToAggregate().Error()
	if !strings.Contains(errs, "data: Forbidden") || !strings.Contains(errs, "type: Invalid value") {
		t.Fatalf("update of an immutable Secret: %s", errs)
	}
}

func TestConfigMaps(t *testing.T) {
	res := configMapResource()
	ok := &corev1.ConfigMap{Data: map[string]string{"app.conf": "x", "KEY_1": "y"}, BinaryData: map[string][]byte{"blob": {0}}}
	if errs := res.Validate(ok); len(errs) > 0 {
		t.Fatal(errs)
	}
	dup := &corev1.ConfigMap{Data: map[string]string{"k": "x"}, BinaryData: map[string][]byte{"k": {0}}}
	if errs := res.Validate(dup); !strings.Contains(errs.ToAggregate().Error(), "duplicate of key present in data") {
		t.Fatalf("duplicate key: %v", errs)
	}
	yes := true
	old := &corev1.ConfigMap{Immutable: &yes, Data: map[string]string{"k": "x"}}
	n := old.DeepCopy()
	n.Immutable = nil
	if errs := res.ValidateUpdate(n, old); !strings.Contains(errs.ToAggregate().Error(), "immutable: Forbidden") {
		t.Fatalf("an immutable ConfigMap made mutable: %v", errs)
	}
}
