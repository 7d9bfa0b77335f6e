package registry

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxConfigSize is Kubernetes' limit on a ConfigMap's or Secret's data.
const MaxConfigSize = 1 << 20

func configMapResource() *Resource {
	return &Resource{
		GVR: gvr("", "v1", "configmaps"), Kind: "ConfigMap", ListKind: "ConfigMapList", Singular: "configmap", Namespaced: true,
		ShortNames: []string{"cm"},
		New:        func() runtime.Object { return &corev1.ConfigMap{} }, NewList: func() runtime.Object { return &corev1.ConfigMapList{} },
		Validate: func(obj runtime.Object) field.ErrorList {
			cm := obj.(*corev1.ConfigMap)
			size := 0
			var errs field.ErrorList
			for k, v := range cm.Data {
				errs = append(errs, validateConfigKey(k, field.NewPath("data").Key(k))...)
				if _, dup := cm.BinaryData[k]; dup {
					errs = append(errs, field.Invalid(field.NewPath("binaryData").Key(k), k, "duplicate of key present in data"))
				}
				size += len(k) + len(v)
			}
			for k, v := range cm.BinaryData {
				errs = append(errs, validateConfigKey(k, field.NewPath("binaryData").Key(k))...)
				size += len(k) + len(v)
			}
			if size > MaxConfigSize {
				errs = append(errs, field.TooLong(field.NewPath(""), "", MaxConfigSize))
			}
			return errs
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			n, o := obj.(*corev1.ConfigMap), old.(*corev1.ConfigMap)
			return validateImmutableData(o.Immutable, n.Immutable, n.Data, o.Data, n.BinaryData, o.BinaryData)
		},
		Table: configMapTable,
	}
}

func secretResource() *Resource {
	return &Resource{
		GVR: gvr("", "v1", "secrets"), Kind: "Secret", ListKind: "SecretList", Singular: "secret", Namespaced: true,
		New: func() runtime.Object { return &corev1.Secret{} }, NewList: func() runtime.Object { return &corev1.SecretList{} },
		// stringData is write-only: merged into data (winning), then dropped.
		Default: func(obj runtime.Object) {
			s := obj.(*corev1.Secret)
			if s.Type == "" {
				s.Type = corev1.SecretTypeOpaque
			}
			if len(s.StringData) > 0 && s.Data == nil {
				s.Data = map[string][]byte{}
			}
			for k, v := range s.StringData {
				s.Data[k] = []byte(v)
			}
			s.StringData = nil
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return ValidateSecret(obj.(*corev1.Secret))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			n, o := obj.(*corev1.Secret), old.(*corev1.Secret)
			errs := validateImmutableData(o.Immutable, n.Immutable, n.Data, o.Data, nil, nil)
			if n.Type != o.Type {
				errs = append(errs, field.Invalid(field.NewPath("type"), n.Type, "field is immutable"))
			}
			return errs
		},
		Table: secretTable,
	}
}

// ValidateSecret checks keys, size and what each type requires.
func ValidateSecret(s *corev1.Secret) field.ErrorList {
	var errs field.ErrorList
	data := field.NewPath("data")
	size := 0
	for k, v := range s.Data {
		errs = append(errs, validateConfigKey(k, data.Key(k))...)
		size += len(k) + len(v)
	}
	if size > MaxConfigSize {
		errs = append(errs, field.TooLong(data, "", MaxConfigSize))
	}
	require := func(keys ...string) {
		for _, k := range keys {
			if _, ok := s.Data[k]; !ok {
				errs = append(errs, field.Required(data.Key(k), ""))
			}
		}
	}
	switch s.Type {
	case corev1.SecretTypeTLS:
		require(corev1.TLSCertKey, corev1.TLSPrivateKeyKey)
	case corev1.SecretTypeDockerConfigJson:
		require(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeDockercfg:
		require(corev1.DockerConfigKey)
	case corev1.SecretTypeBasicAuth:
		_, u := s.Data[corev1.BasicAuthUsernameKey]
		_, p := s.Data[corev1.BasicAuthPasswordKey]
		if !u && !p {
			errs = append(errs, field.Required(data.Key(corev1.BasicAuthUsernameKey), ""), field.Required(data.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		require(corev1.SSHAuthPrivateKey)
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	}
	return errs
}

// validateConfigKey: a key is what a file name may be.
func validateConfigKey(k string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsConfigMapKey(k) {
		errs = append(errs, field.Invalid(p, k, msg))
	}
	return errs
}

// validateImmutableData: an immutable object's data may not change, nor
// may it become mutable again.
func validateImmutableData(oldImm, newImm *bool, newData, oldData any, newBin, oldBin map[string][]byte) field.ErrorList {
	if oldImm == nil || !*oldImm {
		return nil
	}
	var errs field.ErrorList
	if newImm == nil || !*newImm {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), "field is immutable when `immutable` is set"))
	}
	if !apiequality.Semantic.DeepEqual(newData, oldData) || !apiequality.Semantic.DeepEqual(newBin, oldBin) {
		errs = append(errs, field.Forbidden(field.NewPath("data"), "field is immutable when `immutable` is set"))
	}
	return errs
}

var configMapTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol, col("Data", "string", "Data contains the configuration data.", 0), ageCol},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		cm := obj.(*corev1.ConfigMap)
		name, age := nameAge(obj, now)
		return []interface{}{name, int64(len(cm.Data) + len(cm.BinaryData)), age}
	},
}

var secretTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol, col("Type", "string", "The type of the secret", 0),
		col("Data", "string", "The number of entries in the secret", 0), ageCol},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		s := obj.(*corev1.Secret)
		name, age := nameAge(obj, now)
		return []interface{}{name, string(s.Type), strconv.Itoa(len(s.Data)), age}
	},
}
