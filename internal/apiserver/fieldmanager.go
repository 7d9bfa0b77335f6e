package apiserver

import (
	"fmt"
	"slices"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	"github.com/svcnet/svcnet/internal/registry"
)

func (s *Server) typeConverter() managedfields.TypeConverter {
	s.tcOnce.Do(func() { s.tc = newTrustingConverter(applyconfigurations.NewTypeConverter(scheme.Scheme)) })
	return s.tc
}

// trustingConverter is the built-in types' converter without the schema
// walk for the objects the server itself decoded into Go structs.
//
// The field manager converts both the live and the new object of every
// write to structured-merge-diff values, asking for validation that allows
// duplicates; for a Go struct that walk can only confirm what the Go types
// already guarantee (upstream logs "SHOULD NOT HAPPEN" if it ever fails),
// yet it is half of the field manager's cost. An apply patch (validated
// without options) and unstructured objects keep the full validation.
type trustingConverter struct {
	managedfields.TypeConverter
	types sync.Map // schema.GroupVersionKind -> typeOf, learnt from a validated conversion
}

type typeOf struct {
	schema *smdschema.Schema
	ref    smdschema.TypeRef
}

func newTrustingConverter(tc managedfields.TypeConverter) *trustingConverter {
	return &trustingConverter{TypeConverter: tc}
}

func (c *trustingConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	if _, u := obj.(*unstructured.Unstructured); u || !slices.Contains(opts, typed.AllowDuplicates) {
		return c.TypeConverter.ObjectToTyped(obj, opts...)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if t, ok := c.types.Load(gvk); ok {
		v, err := value.NewValueReflect(obj)
		if err != nil {
			return nil, err
		}
		known := t.(typeOf)
		return typed.AsTypedUnvalidated(v, known.schema, known.ref), nil
	}
	tv, err := c.TypeConverter.ObjectToTyped(obj, opts...)
	if err == nil {
		c.types.Store(gvk, typeOf{tv.Schema(), tv.TypeRef()})
	}
	return tv, err
}

type defaulter struct{ res *registry.Resource }

func (d defaulter) Default(obj runtime.Object) {
	if d.res.Default != nil {
		if _, ok := obj.(*unstructured.Unstructured); !ok || d.res.Custom() {
			d.res.Default(obj)
		}
	}
}

// fieldManager tracks managedFields for a resource (or its status).
func (s *Server) fieldManager(res *registry.Resource, sub string) (*managedfields.FieldManager, error) {
	s.fmMu.Lock()
	defer s.fmMu.Unlock()
	key := fmKey{res, sub}
	if fm, ok := s.fms[key]; ok {
		return fm, nil
	}
	var fm *managedfields.FieldManager
	var err error
	switch {
	case res.Custom():
		// Field sets from the definition's schema (deduced from the
		// objects when there is none).
		tc := res.TypeConverter
		if tc == nil {
			tc = managedfields.NewDeducedTypeConverter()
		}
		fm, err = managedfields.NewDefaultCRDFieldManager(tc, unstructuredConverter{}, defaulter{res}, unstructuredCreater{},
			res.GroupVersionKind(), res.GVR.GroupVersion(), sub, resetFields(res, sub))
	case res.GVR.Group == "apiextensions.k8s.io":
		// client-go's type converter does not know the apiextensions types.
		fm, err = managedfields.NewDefaultFieldManager(managedfields.NewDeducedTypeConverter(), scheme.Scheme, defaulter{res}, scheme.Scheme,
			res.GroupVersionKind(), res.GVR.GroupVersion(), sub, resetFields(res, sub))
	default:
		fm, err = managedfields.NewDefaultFieldManager(s.typeConverter(), scheme.Scheme, defaulter{res}, scheme.Scheme,
			res.GroupVersionKind(), res.GVR.GroupVersion(), sub, resetFields(res, sub))
	}
	if err != nil {
		return nil, err
	}
	s.fms[key] = fm
	return fm, nil
}

func (s *Server) trackUpdate(res *registry.Resource, sub string, live, obj runtime.Object, manager string) runtime.Object {
	fm, err := s.fieldManager(res, sub)
	if err != nil {
		s.log.Warn("field manager unavailable", "resource", res.GVR.Resource, "err", err)
		return obj
	}
	return fm.UpdateNoErrors(live, obj, manager)
}

// resetFields are the fields a writer of the main resource (or of status)
// does not own, as the Kubernetes strategies declare them.
func resetFields(res *registry.Resource, sub string) map[fieldpath.APIVersion]fieldpath.Filter {
	if !res.HasSubresource("status") {
		return nil
	}
	v := fieldpath.APIVersion(res.GVR.GroupVersion().String())
	if sub == "status" {
		return map[fieldpath.APIVersion]fieldpath.Filter{v: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("spec"), fieldpath.MakePathOrDie("metadata")))}
	}
	return map[fieldpath.APIVersion]fieldpath.Filter{v: fieldpath.NewExcludeSetFilter(fieldpath.NewSet(fieldpath.MakePathOrDie("status")))}
}

// unstructuredConverter converts custom resources between versions the way
// their definitions' None strategy does: only apiVersion changes.
type unstructuredConverter struct{}

func (unstructuredConverter) Convert(in, out, _ interface{}) error {
	u, ok := in.(*unstructured.Unstructured)
	o, ok2 := out.(*unstructured.Unstructured)
	if !ok || !ok2 {
		return fmt.Errorf("cannot convert %T to %T", in, out)
	}
	o.Object = runtime.DeepCopyJSON(u.Object)
	return nil
}

func (unstructuredConverter) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	u, ok := in.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("cannot convert %T", in)
	}
	out := u.DeepCopy()
	if gvk, ok := target.KindForGroupVersionKinds([]schema.GroupVersionKind{u.GroupVersionKind()}); ok {
		out.SetGroupVersionKind(gvk)
	}
	return out, nil
}

func (unstructuredConverter) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}

// unstructuredCreater makes empty custom resources.
type unstructuredCreater struct{}

func (unstructuredCreater) New(kind schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(kind)
	return u, nil
}
