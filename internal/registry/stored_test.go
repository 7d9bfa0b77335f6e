package registry

import (
	"io"
	"log/slog"
	"reflect"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

// sampleObject is an object of res with the metadata a stored object has
// (labels, annotations, managedFields) and a resourceVersion to lose.
func sampleObject(res *Resource, name string) runtime.Object {
	obj := res.New()
	m, _ := meta.Accessor(obj)
	m.SetName(name)
	if res.Namespaced {
		m.SetNamespace("ns")
	}
	m.SetUID("uid-1")
	m.SetResourceVersion("5")
	m.SetLabels(map[string]string{"app": "web"})
	m.SetAnnotations(map[string]string{"a": "b"})
	m.SetCreationTimestamp(metav1.NewTime(time.Unix(1700000000, 0)))
	m.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "m", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{}}`)}}})
	return obj
}

// For every resource the API serves, a stored object sent as it is (with
// the resourceVersion spliced in) decodes to what decoding it on the server
// and encoding it again gives; and so does a list of them.
func TestStoredObjectsServeAsProtobuf(t *testing.T) {
	r := New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, Resources(Config{Services: &ServiceStrategy{}}))
	wire := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme)
	for _, res := range r.Resources() {
		if !res.Stored() {
			continue
		}
		t.Run(res.GVR.Resource, func(t *testing.T) {
			var items []runtime.Object
			var want []runtime.Object
			for i, name := range []string{"a", "b"} {
				value, err := r.encode(res, sampleObject(res, name))
				if err != nil {
					t.Fatal(err)
				}
				so := &StoredObject{Resource: res, Value: value, Revision: int64(1234567 + i)}
				ref, err := r.Object(so)
				if err != nil {
					t.Fatal(err)
				}
				b, err := so.AppendProtobuf(nil)
				if err != nil {
					t.Fatal(err)
				}
				got, gvk, err := wire.Decode(b, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if *gvk != res.GroupVersionKind() {
					t.Fatalf("kind %v", gvk)
				}
				got.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
				if !reflect.DeepEqual(got, ref) {
					t.Fatalf("spliced\n %#v\ndecoded\n %#v", got, ref)
				}
				if m, _ := meta.Accessor(got); m.GetResourceVersion() != strconv.FormatInt(so.Revision, 10) {
					t.Fatalf("resourceVersion %q", m.GetResourceVersion())
				}
				items, want = append(items, so), append(want, ref)
			}
			rem := int64(3)
			b, ok := ProtobufList(res, items, metav1.ListMeta{ResourceVersion: "99", Continue: "next", RemainingItemCount: &rem})
			if !ok {
				t.Fatal("list not encoded")
			}
			list, _, err := wire.Decode(b, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			lm, _ := meta.ListAccessor(list)
			if lm.GetResourceVersion() != "99" || lm.GetContinue() != "next" || *lm.GetRemainingItemCount() != 3 {
				t.Fatalf("list metadata %+v", lm)
			}
			got, _ := meta.ExtractList(list)
			for i := range got {
				got[i].GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("list items differ:\n%#v\n%#v", got, want)
			}
		})
	}
}

// Bytes that are not a stored protobuf object are not spliced: the API then
// decodes them the usual way.
func TestStoredObjectNotProtobuf(t *testing.T) {
	res := Resources(Config{Services: &ServiceStrategy{}})[0]
	so := &StoredObject{Resource: res, Value: []byte(`{"kind":"Pod"}`), Revision: 1}
	if _, err := so.AppendProtobuf(nil); err == nil {
		t.Fatal("JSON spliced as protobuf")
	}
	if _, ok := ProtobufList(res, []runtime.Object{so}, metav1.ListMeta{}); ok {
		t.Fatal("JSON listed as protobuf")
	}
	trunc := &StoredObject{Resource: res, Value: []byte{0x6b, 0x38, 0x73, 0x00, 0x12, 0x40}, Revision: 1}
	if _, err := trunc.AppendProtobuf(nil); err == nil {
		t.Fatal("truncated object spliced")
	}
}
