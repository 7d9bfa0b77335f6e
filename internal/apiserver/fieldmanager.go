package apiserver

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/svcnet/svcnet/internal/registry"
)

func (s *Server) typeConverter() managedfields.TypeConverter {
	s.tcOnce.Do(func() { s.tc = applyconfigurations.NewTypeConverter(scheme.Scheme) })
	return s.tc
}

type defaulter struct{ res *registry.Resource }

func (d defaulter) Default(obj runtime.Object) {
	if d.res.Default != nil {
		if _, ok := obj.(*unstructured.Unstructured); !ok {
			d.res.Default(obj)
		}
	}
}

// fieldManager tracks managedFields for a resource (or its status).
func (s *Server) fieldManager(res *registry.Resource, sub string) (*managedfields.FieldManager, error) {
	s.fmMu.Lock()
	defer s.fmMu.Unlock()
	key := fmKey{res.GroupResource(), sub}
	if fm, ok := s.fms[key]; ok {
		return fm, nil
	}
	fm, err := managedfields.NewDefaultFieldManager(s.typeConverter(), scheme.Scheme, defaulter{res}, scheme.Scheme,
		res.GroupVersionKind(), res.GVR.GroupVersion(), sub, resetFields(res, sub))
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
