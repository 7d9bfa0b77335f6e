package registry

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DefaultServiceAccount is the ServiceAccount every namespace has and pods
// without one use.
const DefaultServiceAccount = "default"

func serviceAccountResource() *Resource {
	return &Resource{
		GVR: gvr("", "v1", "serviceaccounts"), Kind: "ServiceAccount", ListKind: "ServiceAccountList", Singular: "serviceaccount", Namespaced: true,
		ShortNames: []string{"sa"}, Subresources: []string{"token"},
		New: func() runtime.Object { return &corev1.ServiceAccount{} }, NewList: func() runtime.Object { return &corev1.ServiceAccountList{} },
		Table: &TableSpec{
			Columns: []metav1.TableColumnDefinition{nameCol, col("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.", 0), ageCol},
			Row: func(obj runtime.Object, now time.Time) []interface{} {
				name, age := nameAge(obj, now)
				return []interface{}{name, strconv.Itoa(len(obj.(*corev1.ServiceAccount).Secrets)), age}
			},
		},
	}
}
