// Package customresource serves CustomResourceDefinitions
// (apiextensions.k8s.io/v1): it turns each definition into registry
// resources, one per served version, that validate, prune and default by the
// definition's structural schema and its x-kubernetes-validations (CEL)
// rules with apiextensions-apiserver's own packages; and its Controller keeps
// what the API serves and each definition's status (NamesAccepted,
// Established, Terminating) in step with the stored definitions, deleting a
// removed definition's objects first.
package customresource

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apiextensions-apiserver/pkg/controller/openapi/builder"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresource/tableconvertor"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/svcnet/svcnet/internal/registry"
)

// Resources builds the registry resources a definition serves: one per
// served version, the storage version first (the preferred one). They share
// one storage prefix, /registry/<group>/<plural>/, and convert between
// versions with the None strategy (only apiVersion changes).
func Resources(crd *apiextensionsv1.CustomResourceDefinition) ([]*registry.Resource, error) {
	tc, err := typeConverter(crd)
	if err != nil {
		return nil, err
	}
	var out []*registry.Resource
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		res, err := versionResource(crd, v)
		if err != nil {
			return nil, fmt.Errorf("version %s: %w", v.Name, err)
		}
		res.TypeConverter = tc
		if v.Storage {
			out = append([]*registry.Resource{res}, out...)
		} else {
			out = append(out, res)
		}
	}
	return out, nil
}

// typeConverter is server-side apply's view of every served version's
// schema, as kube-apiserver builds it: the OpenAPI models of the versions
// (value validations and nullable stripped).
func typeConverter(crd *apiextensionsv1.CustomResourceDefinition) (managedfields.TypeConverter, error) {
	models := map[string]*spec.Schema{}
	for _, v := range crd.Spec.Versions {
		if !v.Served {
			continue
		}
		doc, err := builder.BuildOpenAPIV3(crd, v.Name, builder.Options{StripValueValidation: true, StripNullable: true})
		if err != nil {
			return nil, fmt.Errorf("version %s: openapi: %w", v.Name, err)
		}
		for name, s := range doc.Components.Schemas {
			models[name] = s
		}
	}
	return managedfields.NewTypeConverter(models, crd.Spec.PreserveUnknownFields)
}

// schemaOf is a version's schema in the internal form the validators take.
func schemaOf(v apiextensionsv1.CustomResourceDefinitionVersion) (*apiextensions.JSONSchemaProps, error) {
	internal := &apiextensions.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr(true)}
	if v.Schema != nil && v.Schema.OpenAPIV3Schema != nil {
		internal = &apiextensions.JSONSchemaProps{}
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
			return nil, err
		}
	}
	return internal, nil
}

func ptr[T any](v T) *T { return &v }

// version is what one served version checks objects with.
type version struct {
	gvk        schema.GroupVersionKind
	namespaced bool
	structural *structuralschema.Structural
	validator  apiservervalidation.SchemaValidator
	status     apiservervalidation.SchemaValidator // the status schema, for status writes
	cel        *cel.Validator
	scale      *apiextensionsv1.CustomResourceSubresourceScale
	hasStatus  bool
}

func versionResource(crd *apiextensionsv1.CustomResourceDefinition, v apiextensionsv1.CustomResourceDefinitionVersion) (*registry.Resource, error) {
	props, err := schemaOf(v)
	if err != nil {
		return nil, err
	}
	st, err := structuralschema.NewStructural(props)
	if err != nil {
		return nil, err
	}
	validator, _, err := apiservervalidation.NewSchemaValidator(props)
	if err != nil {
		return nil, err
	}
	names := crd.Status.AcceptedNames
	if names.Plural == "" {
		names = crd.Spec.Names
	}
	ver := &version{
		gvk:        schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: names.Kind},
		namespaced: crd.Spec.Scope == apiextensionsv1.NamespaceScoped,
		structural: st,
		validator:  validator,
		cel:        cel.NewValidator(st, true, celconfig.PerCallLimit),
	}
	var subs []string
	if v.Subresources != nil && v.Subresources.Status != nil {
		ver.hasStatus = true
		subs = append(subs, "status")
		if sp, ok := props.Properties["status"]; ok {
			if ver.status, _, err = apiservervalidation.NewSchemaValidator(&sp); err != nil {
				return nil, err
			}
		}
	}
	if v.Subresources != nil && v.Subresources.Scale != nil {
		ver.scale = v.Subresources.Scale
		subs = append(subs, "scale")
	}
	columns := v.AdditionalPrinterColumns
	if len(columns) == 0 {
		columns = []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"}}
	}
	table, err := printTable(columns)
	if err != nil {
		return nil, err
	}
	res := &registry.Resource{
		GVR:          schema.GroupVersionResource{Group: crd.Spec.Group, Version: v.Name, Resource: names.Plural},
		Kind:         names.Kind,
		ListKind:     names.ListKind,
		Singular:     names.Singular,
		Namespaced:   ver.namespaced,
		ShortNames:   names.ShortNames,
		Categories:   names.Categories,
		Subresources: subs,
		StorageName:  crd.Spec.Group + "/" + names.Plural,
		Codec:        unstructured.UnstructuredJSONScheme,
		New:          func() runtime.Object { return &unstructured.Unstructured{} },
		NewList:      func() runtime.Object { return &unstructured.UnstructuredList{} },
		PrepareForCreate: func(obj runtime.Object) {
			if ver.hasStatus {
				delete(obj.(*unstructured.Unstructured).Object, "status")
			}
		},
		Default:        ver.defaults,
		Validate:       func(obj runtime.Object) field.ErrorList { return ver.validate(obj, nil) },
		ValidateUpdate: ver.validate,
		Table:          table,
		UnknownFields:  ver.unknown,
	}
	if ver.scale != nil {
		res.Scale = &registry.ScaleSpec{Get: ver.getScale, Set: ver.setScale, Defaults: func() int32 { return 0 }}
	}
	return res, nil
}

// defaults prunes what the schema does not know (unless it preserves
// unknown fields) and applies the schema's defaults, as kube-apiserver does
// on every write.
func (v *version) defaults(obj runtime.Object) {
	u := obj.(*unstructured.Unstructured)
	pruning.Prune(u.Object, v.structural, true)
	defaulting.Default(u.Object, v.structural)
}

// unknown prunes obj and returns the paths of the fields it dropped, for
// strict field validation.
func (v *version) unknown(obj runtime.Object) []string {
	return pruning.PruneWithOptions(obj.(*unstructured.Unstructured).Object, v.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
}

// validate checks an object (old nil on create) as kube-apiserver checks a
// custom resource: type meta, the schema (the status schema alone on a
// status write is not distinguished: the whole object is checked), embedded
// object metadata, list types, the scale paths, then the CEL rules when
// nothing above forbids evaluating them.
func (v *version) validate(obj, old runtime.Object) field.ErrorList {
	u := obj.(*unstructured.Unstructured)
	var errs field.ErrorList
	if u.GetKind() != v.gvk.Kind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), u.GetKind(), "must be "+v.gvk.Kind))
	}
	if u.GetAPIVersion() != v.gvk.GroupVersion().String() {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), u.GetAPIVersion(), "must be "+v.gvk.GroupVersion().String()))
	}
	if len(errs) > 0 {
		return errs
	}
	var oldObj map[string]any
	if old != nil {
		oldObj = old.(*unstructured.Unstructured).Object
		errs = append(errs, apiservervalidation.ValidateCustomResourceUpdate(nil, u.Object, oldObj, v.validator)...)
	} else {
		errs = append(errs, apiservervalidation.ValidateCustomResource(nil, u.Object, v.validator)...)
	}
	ctx := context.Background()
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, u.Object, v.structural, false)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, v.structural, u.Object)...)
	errs = append(errs, v.validateScale(u)...)
	for _, e := range errs {
		if e.Type == field.ErrorTypeTypeInvalid || e.Type == field.ErrorTypeRequired || e.Type == field.ErrorTypeNotSupported {
			// The rules may assume what the schema promised.
			return errs
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	celErrs, _ := v.cel.Validate(ctx, nil, v.structural, u.Object, oldObj, celconfig.RuntimeCELCostBudget)
	return append(errs, celErrs...)
}

func path(p string) []string { return strings.Split(strings.TrimPrefix(p, "."), ".") }

func (v *version) validateScale(u *unstructured.Unstructured) field.ErrorList {
	if v.scale == nil {
		return nil
	}
	var errs field.ErrorList
	for _, p := range []string{v.scale.SpecReplicasPath, v.scale.StatusReplicasPath} {
		n, _, err := unstructured.NestedInt64(u.Object, path(p)...)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(field.NewPath(p), n, err.Error()))
		case n < 0:
			errs = append(errs, field.Invalid(field.NewPath(p), n, "should be a non-negative integer"))
		case n > math.MaxInt32:
			errs = append(errs, field.Invalid(field.NewPath(p), n, fmt.Sprintf("should be less than or equal to %v", math.MaxInt32)))
		}
	}
	if p := v.scale.LabelSelectorPath; p != nil {
		if s, _, err := unstructured.NestedString(u.Object, path(*p)...); err != nil {
			errs = append(errs, field.Invalid(field.NewPath(*p), s, err.Error()))
		}
	}
	return errs
}

func (v *version) getScale(obj runtime.Object) (spec, status int32, selector *metav1.LabelSelector) {
	u := obj.(*unstructured.Unstructured)
	sp, _, _ := unstructured.NestedInt64(u.Object, path(v.scale.SpecReplicasPath)...)
	st, _, _ := unstructured.NestedInt64(u.Object, path(v.scale.StatusReplicasPath)...)
	if p := v.scale.LabelSelectorPath; p != nil {
		if s, ok, _ := unstructured.NestedString(u.Object, path(*p)...); ok && s != "" {
			selector, _ = metav1.ParseToLabelSelector(s)
		}
	}
	return int32(sp), int32(st), selector
}

func (v *version) setScale(obj runtime.Object, replicas int32) {
	_ = unstructured.SetNestedField(obj.(*unstructured.Unstructured).Object, int64(replicas), path(v.scale.SpecReplicasPath)...)
}

// printTable prints the additionalPrinterColumns, with
// apiextensions-apiserver's own table convertor (JSONPath cells, date
// columns as ages).
func printTable(columns []apiextensionsv1.CustomResourceColumnDefinition) (*registry.TableSpec, error) {
	conv, err := tableconvertor.New(columns)
	if err != nil {
		return nil, err
	}
	head, err := conv.ConvertToTable(context.Background(), &unstructured.UnstructuredList{}, nil)
	if err != nil {
		return nil, err
	}
	return &registry.TableSpec{
		Columns: head.ColumnDefinitions,
		Row: func(obj runtime.Object, _ time.Time) []interface{} {
			t, err := conv.ConvertToTable(context.Background(), obj, nil)
			if err != nil || len(t.Rows) == 0 {
				return make([]interface{}, len(head.ColumnDefinitions))
			}
			return t.Rows[0].Cells
		},
	}, nil
}
