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

// unknown unwraps a protobuf envelope.
func unknown(t *testing.T, b []byte) runtime.Unknown {
	t.Helper()
	var u runtime.Unknown
	if len(b) < 4 || string(b[:4]) != "k8s\x00" {
		t.Fatal("no protobuf magic")
	}
	if err := u.Unmarshal(b[4:]); err != nil {
		t.Fatal(err)
	}
	return u
}

// For every resource, the PartialObjectMetadata cut from the stored bytes
// is the object's metadata with its resourceVersion, alone and in a list.
func TestStoredObjectsServeAsPartialMetadata(t *testing.T) {
	r := New(nil, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, Resources(Config{Services: &ServiceStrategy{}}))
	for _, res := range r.Resources() {
		if !res.Stored() {
			continue
		}
		t.Run(res.GVR.Resource, func(t *testing.T) {
			value, err := r.encode(res, sampleObject(res, "a"))
			if err != nil {
				t.Fatal(err)
			}
			so := &StoredObject{Resource: res, Value: value, Revision: 4242}
			ref, err := r.Object(so)
			if err != nil {
				t.Fatal(err)
			}
			want := meta.AsPartialObjectMetadata(ref.(metav1.Object)).ObjectMeta
			b, err := so.AppendPartialMetadataProtobuf(nil)
			if err != nil {
				t.Fatal(err)
			}
			u := unknown(t, b)
			if u.APIVersion != "meta.k8s.io/v1" || u.Kind != "PartialObjectMetadata" {
				t.Fatalf("type %s %s", u.APIVersion, u.Kind)
			}
			var got metav1.PartialObjectMetadata
			if err := got.Unmarshal(u.Raw); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.ObjectMeta, want) || got.ResourceVersion != "4242" {
				t.Fatalf("got\n %#v\nwant\n %#v", got.ObjectMeta, want)
			}
			lb, ok := ProtobufMetadataList([]runtime.Object{so, so}, metav1.ListMeta{ResourceVersion: "99"})
			if !ok {
				t.Fatal("list not encoded")
			}
			lu := unknown(t, lb)
			var list metav1.PartialObjectMetadataList
			if err := list.Unmarshal(lu.Raw); err != nil || lu.Kind != "PartialObjectMetadataList" {
				t.Fatalf("%v %s", err, lu.Kind)
			}
			if list.ResourceVersion != "99" || len(list.Items) != 2 || !reflect.DeepEqual(list.Items[1].ObjectMeta, want) {
				t.Fatalf("list %+v", list)
			}
		})
	}
}
