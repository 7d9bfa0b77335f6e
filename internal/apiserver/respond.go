package apiserver

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/svcnet/svcnet/internal/registry"
)

// respond writes one object, as a Table when asked.
func (s *Server) respond(rq *request, code int, obj runtime.Object) {
	switch rq.out {
	case fmtTable:
		t := registry.ToTable(rq.res.Table, []runtime.Object{obj}, s.reg.Now(), rq.param("includeObject") != "None")
		m, _ := meta.Accessor(obj)
		t.ResourceVersion = m.GetResourceVersion()
		encodeRowObjects(t)
		s.codecs.writeObject(rq.w, fmtTable, code, t)
	case fmtMetadata, fmtMetadataProtobuf:
		s.codecs.writeObject(rq.w, metadataWire(rq.out), code, partialMetadata(obj))
	default:
		s.codecs.writeObject(rq.w, rq.out, code, obj)
	}
}

func registryTable(s *Server, rq *request, obj runtime.Object, headers bool) *metav1.Table {
	t := registry.ToTable(rq.res.Table, []runtime.Object{obj}, s.reg.Now(), headers)
	encodeRowObjects(t)
	return t
}

func encodeRowObjects(t *metav1.Table) {
	for i := range t.Rows {
		if o := t.Rows[i].Object.Object; o != nil {
			b, _ := json.Marshal(o)
			t.Rows[i].Object = runtime.RawExtension{Raw: b}
		}
	}
}

func partialMetadata(obj runtime.Object) *metav1.PartialObjectMetadata {
	m, _ := meta.Accessor(obj)
	p := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}}
	om := meta.AsPartialObjectMetadata(m)
	p.ObjectMeta = om.ObjectMeta
	return p
}
