package apiserver

import (
	"bytes"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/svcnet/svcnet/internal/registry"
)

func serviceResource() *registry.Resource {
	for _, r := range registry.Resources(registry.Config{Services: &registry.ServiceStrategy{}}) {
		if r.GVR.Resource == "services" {
			return r
		}
	}
	panic("no services resource")
}

func TestDecodeObject(t *testing.T) {
	c := newCodecs()
	res := serviceResource()
	cases := []struct {
		name, ct, body string
		fv             fieldValidation
		wantErr        string
		wantWarnings   int
	}{
		{"json", "application/json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"}}`, validateStrict, "", 0},
		{"no type meta", "application/json", `{"metadata":{"name":"a"}}`, validateStrict, "", 0},
		{"yaml", "application/yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n", validateStrict, "", 0},
		{"unknown field strict", "application/json", `{"apiVersion":"v1","kind":"Service","spec":{"selectr":{}}}`, validateStrict, `unknown field "spec.selectr"`, 0},
		{"unknown field warn", "application/json", `{"apiVersion":"v1","kind":"Service","spec":{"selectr":{}}}`, validateWarn, "", 1},
		{"unknown field ignore", "application/json", `{"apiVersion":"v1","kind":"Service","spec":{"selectr":{}}}`, validateIgnore, "", 0},
		{"duplicate field strict", "application/json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","name":"b"}}`, validateStrict, `duplicate field`, 0},
		{"wrong group", "application/json", `{"apiVersion":"apps/v1","kind":"Service"}`, validateStrict, "does not match the expected API version", 0},
		{"wrong kind", "application/json", `{"apiVersion":"v1","kind":"Pod"}`, validateStrict, "cannot be handled as a Service", 0},
		{"truncated", "application/json", `{"apiVersion":"v1","ki`, validateStrict, "cannot be handled", 0},
		{"unknown media type", "text/plain", `x`, validateStrict, "unknown format", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj, warnings, err := c.decodeObject(tc.ct, []byte(tc.body), res, tc.fv)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want error containing %q, got %v", tc.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := obj.(*corev1.Service); !ok {
				t.Fatalf("decoded a %T", obj)
			}
			if len(warnings) != tc.wantWarnings {
				t.Fatalf("warnings %v, want %d", warnings, tc.wantWarnings)
			}
		})
	}
}

func FuzzDecodeObject(f *testing.F) {
	c := newCodecs()
	res := serviceResource()
	svc := &corev1.Service{}
	svc.Name = "seed"
	var pb strings.Builder
	_ = c.proto.Encode(withKind(svc), &pb)
	f.Add("application/json", []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"},"spec":{"ports":[{"port":80}]}}`))
	f.Add("application/yaml", []byte("kind: Service\napiVersion: v1\n"))
	f.Add("application/vnd.kubernetes.protobuf", []byte(pb.String()))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		obj, _, err := c.decodeObject(ct, body, res, validateStrict)
		if err == nil {
			if _, ok := obj.(*corev1.Service); !ok {
				t.Fatalf("decoded a %T without error", obj)
			}
		}
	})
}

func withKind(s *corev1.Service) runtime.Object {
	s.APIVersion, s.Kind = "v1", "Service"
	return s
}

// A protobuf watch event framed by hand is byte for byte what the generated
// encoder and Kubernetes' length-delimited framer write.
func TestAppendProtobufEventMatchesFramer(t *testing.T) {
	c := newCodecs()
	var want bytes.Buffer
	fw := protobuf.LengthDelimitedFramer.NewFrameWriter(&want)
	e := &watchEncoder{}
	for _, tc := range []struct {
		typ watch.EventType
		raw []byte
	}{{watch.Added, []byte("k8s\x00object")}, {watch.Bookmark, nil}, {watch.Modified, bytes.Repeat([]byte{7}, 300)}} {
		var ev bytes.Buffer
		if err := c.protoRaw.Encode(&metav1.WatchEvent{Type: string(tc.typ), Object: runtime.RawExtension{Raw: tc.raw}}, &ev); err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(ev.Bytes()); err != nil {
			t.Fatal(err)
		}
		e.appendProtobufEvent(tc.typ, tc.raw)
	}
	if !bytes.Equal(e.out, want.Bytes()) {
		t.Fatalf("framed by hand:\n%x\nby the framer:\n%x", e.out, want.Bytes())
	}
}
