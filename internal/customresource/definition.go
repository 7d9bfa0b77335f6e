package customresource

import (
	"context"
	"slices"
	"time"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/install"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/svcnet/svcnet/internal/registry"
)

// The API server's scheme learns apiextensions.k8s.io/v1, so definitions
// are stored in protobuf and served in every format like built-in kinds.
func init() { utilruntime.Must(apiextensionsv1.AddToScheme(scheme.Scheme)) }

// internalScheme converts definitions to the internal version that
// apiextensions-apiserver's validation takes.
var internalScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	install.Install(s)
	return s
}()

func toInternal(crd *apiextensionsv1.CustomResourceDefinition) (*apiextensions.CustomResourceDefinition, error) {
	out := &apiextensions.CustomResourceDefinition{}
	return out, internalScheme.Convert(crd, out, nil)
}

// DefinitionGVR is where definitions are served.
var DefinitionGVR = schema.GroupVersionResource{Group: apiextensionsv1.GroupName, Version: "v1", Resource: "customresourcedefinitions"}

// DefinitionResource is the customresourcedefinitions resource: defaulted
// and validated by apiextensions-apiserver's own code; a delete marks the
// definition Terminating with the cleanup finalizer, which the Controller
// removes once the definition's objects are gone.
func DefinitionResource() *registry.Resource {
	return &registry.Resource{
		GVR: DefinitionGVR, Kind: "CustomResourceDefinition", ListKind: "CustomResourceDefinitionList",
		Singular: "customresourcedefinition", ShortNames: []string{"crd", "crds"}, Categories: []string{"api-extensions"},
		Subresources: []string{"status"},
		New:          func() runtime.Object { return &apiextensionsv1.CustomResourceDefinition{} },
		NewList:      func() runtime.Object { return &apiextensionsv1.CustomResourceDefinitionList{} },
		Default:      func(obj runtime.Object) { scheme.Scheme.Default(obj) },
		PrepareForCreate: func(obj runtime.Object) {
			crd := obj.(*apiextensionsv1.CustomResourceDefinition)
			crd.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
			if v := storageVersion(crd); v != "" {
				crd.Status.StoredVersions = []string{v}
			}
			// Established is False (Installing) from the start, as the
			// Controller sets it a moment later anyway: a `kubectl wait
			// --for=condition=Established` right after the create then
			// waits instead of failing on conditions that are null
			// (kubernetes/kubernetes#66439).
			setCondition(crd, apiextensionsv1.Established, apiextensionsv1.ConditionFalse, "Installing", "the definition is being installed", time.Now())
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			in, err := toInternal(obj.(*apiextensionsv1.CustomResourceDefinition))
			if err != nil {
				return field.ErrorList{field.InternalError(nil, err)}
			}
			return crdvalidation.ValidateCustomResourceDefinition(context.Background(), in)
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			in, err := toInternal(obj.(*apiextensionsv1.CustomResourceDefinition))
			if err != nil {
				return field.ErrorList{field.InternalError(nil, err)}
			}
			oldIn, err := toInternal(old.(*apiextensionsv1.CustomResourceDefinition))
			if err != nil {
				return field.ErrorList{field.InternalError(nil, err)}
			}
			return crdvalidation.ValidateCustomResourceDefinitionUpdate(context.Background(), in, oldIn)
		},
		DeleteBlocked: func(obj runtime.Object) bool {
			return obj.(*apiextensionsv1.CustomResourceDefinition).DeletionTimestamp == nil
		},
		MarkDeleting: func(obj runtime.Object) {
			crd := obj.(*apiextensionsv1.CustomResourceDefinition)
			if !slices.Contains(crd.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer) {
				crd.Finalizers = append(crd.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer)
			}
			setCondition(crd, apiextensionsv1.Terminating, apiextensionsv1.ConditionTrue, "InstanceDeletionPending",
				"CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon", time.Now())
		},
		Table: &registry.TableSpec{
			Columns: []metav1.TableColumnDefinition{
				{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]},
				{Name: "Created At", Type: "date", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]},
			},
			Row: func(obj runtime.Object, _ time.Time) []interface{} {
				m := obj.(*apiextensionsv1.CustomResourceDefinition)
				return []interface{}{m.Name, m.CreationTimestamp.UTC().Format(time.RFC3339)}
			},
		},
	}
}

func storageVersion(crd *apiextensionsv1.CustomResourceDefinition) string {
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}

// setCondition sets a condition, keeping its transition time when its
// status does not change. It reports whether anything changed.
func setCondition(crd *apiextensionsv1.CustomResourceDefinition, t apiextensionsv1.CustomResourceDefinitionConditionType,
	status apiextensionsv1.ConditionStatus, reason, message string, now time.Time) bool {
	c := apiextensionsv1.CustomResourceDefinitionCondition{Type: t, Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(now.Truncate(time.Second))}
	for i, old := range crd.Status.Conditions {
		if old.Type != t {
			continue
		}
		if old.Status == status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		if old == c {
			return false
		}
		crd.Status.Conditions[i] = c
		return true
	}
	crd.Status.Conditions = append(crd.Status.Conditions, c)
	return true
}

func condition(crd *apiextensionsv1.CustomResourceDefinition, t apiextensionsv1.CustomResourceDefinitionConditionType) apiextensionsv1.ConditionStatus {
	for _, c := range crd.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}
