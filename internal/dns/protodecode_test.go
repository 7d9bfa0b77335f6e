package dns

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
)

// protoCodecs is the generated protobuf serializer: the reference the fast
// decoder must agree with.
func protoCodecs(t testing.TB) runtime.Serializer {
	s, _ := protoCodec(t)
	return s
}

// protoCodec is the serializer and an encoder that sets the kind, as the
// API's does.
func protoCodec(t testing.TB) (runtime.Serializer, runtime.Encoder) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := discoveryv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	codecs := serializer.NewCodecFactory(scheme)
	for _, info := range codecs.SupportedMediaTypes() {
		if info.MediaType == runtime.ContentTypeProtobuf {
			return info.Serializer, codecs.WithoutConversion().EncoderForVersion(info.Serializer, schema.GroupVersions{corev1.SchemeGroupVersion, discoveryv1.SchemeGroupVersion})
		}
	}
	t.Fatal("no protobuf serializer")
	return nil, nil
}

// encode writes an object as the API sends it in protobuf.
func encode(t testing.TB, _ runtime.Serializer, obj runtime.Object) []byte {
	_, enc := protoCodec(t)
	var b bytes.Buffer
	if err := enc.Encode(obj.DeepCopyObject(), &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// recordOf is what the DNS keeps of an API object on the generated path.
func recordOf(obj runtime.Object) any {
	switch o := obj.(type) {
	case *corev1.Service:
		_, r, _ := toSvcRecord(o)
		return r
	case *discoveryv1.EndpointSlice:
		_, r, _ := toSliceRecord(o)
		return r
	}
	return nil
}

// protoFixtures are objects with every field the DNS reads and several it
// does not (managedFields, annotations, status, targetRef, zones).
func protoFixtures() []runtime.Object {
	meta := func(name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: "Team-A", ResourceVersion: "42", UID: "u-1", Generation: 3,
			CreationTimestamp: metav1.NewTime(time.Unix(1700000000, 0)),
			Labels:            map[string]string{"app": "web", discoveryv1.LabelServiceName: "Web"},
			Annotations:       map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"big":"json"}`},
			ManagedFields:     []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: "Update", APIVersion: "v1", FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{}}`)}}},
			OwnerReferences:   []metav1.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: "web", UID: "u-0"}},
			Finalizers:        []string{"x/y"},
		}
	}
	tcp, udp, lower := corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.Protocol("sctp")
	name := func(s string) *string { return &s }
	port := func(p int32) *int32 { return &p }
	trigger := meta("web-trigger")
	trigger.Annotations[corev1.EndpointsLastChangeTriggerTime] = "2026-11-26T10:00:00.123456789Z"
	return []runtime.Object{
		&corev1.Service{ObjectMeta: meta("Web"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.96.0.10",
			ClusterIPs: []string{"10.96.0.10", "fd00::a"}, Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "HTTP", Port: 80, Protocol: tcp}, {Port: 81, Protocol: tcp}, {Name: "dns", Port: 53, Protocol: udp}, {Name: "s", Port: 9, Protocol: lower}, {Name: "none", Port: 7}}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}}},
		&corev1.Service{ObjectMeta: meta("headless"), Spec: corev1.ServiceSpec{ClusterIP: "None", ClusterIPs: []string{"None"}}},
		&corev1.Service{ObjectMeta: meta("legacy"), Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.11"}},
		&corev1.Service{ObjectMeta: meta("bad-ips"), Spec: corev1.ServiceSpec{ClusterIP: "nonsense", ClusterIPs: []string{"nonsense", "fe80::1%eth0"}}},
		&corev1.Service{ObjectMeta: meta("ext"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "Example.COM.", ClusterIP: "10.96.0.12"}},
		&discoveryv1.EndpointSlice{ObjectMeta: trigger, AddressType: discoveryv1.AddressTypeIPv4,
			Ports: []discoveryv1.EndpointPort{{Name: name("HTTP"), Port: port(8080), Protocol: &tcp}, {Name: name("noproto"), Port: port(9)}, {Name: name("noport")}, {Port: port(1)}, {Name: name(""), Port: port(2)}},
			Endpoints: []discoveryv1.Endpoint{
				{Addresses: []string{"10.244.0.3", "10.244.0.1"}, Hostname: name("Web-0"), Conditions: discoveryv1.EndpointConditions{Ready: ptr(true), Serving: ptr(true)},
					TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "web-0", Namespace: "team-a", UID: "p"}, NodeName: name("n1"), Zone: name("z")},
				{Addresses: []string{"10.244.0.2", "not-an-ip", "10.244.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}},
				{Addresses: []string{"10.244.0.9"}, Hostname: name("")},
			}},
		&discoveryv1.EndpointSlice{ObjectMeta: meta("v6"), AddressType: discoveryv1.AddressTypeIPv6,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"fd00::1", "fe80::1%eth0"}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: meta("fqdn"), AddressType: discoveryv1.AddressTypeFQDN,
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"example.com"}}}},
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "ns"}, AddressType: discoveryv1.AddressTypeIPv4},
	}
}

// The fast decoder gives the record the generated decoder and the
// converters give, for every fixture.
func TestDecodeRecordMatchesGeneratedDecoder(t *testing.T) {
	s := protoCodecs(t)
	for _, obj := range protoFixtures() {
		b := encode(t, s, obj)
		got, gvk, ok := decodeRecord(b)
		if !ok {
			t.Fatalf("%T %s: fast decoder declined", obj, obj.(metav1.Object).GetName())
		}
		ref, refGVK, err := s.Decode(b, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *gvk != *refGVK {
			t.Errorf("gvk %v, want %v", gvk, refGVK)
		}
		pr := got.(*protoRecord)
		if pr.GetResourceVersion() != "42" && pr.GetName() != "orphan" {
			t.Errorf("%s: resourceVersion %q", pr.GetName(), pr.GetResourceVersion())
		}
		if want := recordOf(ref); !reflect.DeepEqual(pr.rec, want) {
			t.Errorf("%s:\n got  %#v\n want %#v", pr.GetName(), pr.rec, want)
		}
	}
}

// A bookmark carries no record, only its resourceVersion and the
// initial-events-end annotation the reflector looks for.
func TestDecodeRecordBookmark(t *testing.T) {
	s := protoCodecs(t)
	for _, obj := range []runtime.Object{&corev1.Service{}, &discoveryv1.EndpointSlice{}} {
		m := obj.(metav1.Object)
		m.SetResourceVersion("77")
		m.SetAnnotations(map[string]string{metav1.InitialEventsAnnotationKey: "true", "other": "x"})
		got, _, ok := decodeRecord(encode(t, s, obj))
		if !ok {
			t.Fatalf("%T: declined", obj)
		}
		pr := got.(*protoRecord)
		if pr.rec != nil || pr.GetResourceVersion() != "77" || !reflect.DeepEqual(pr.GetAnnotations(), map[string]string{metav1.InitialEventsAnnotationKey: "true"}) {
			t.Errorf("%T bookmark: %+v", obj, pr)
		}
		if _, _, ok := toSvcRecord(pr); ok {
			t.Error("a bookmark converted into a Service record")
		}
	}
}

// Other kinds, other encodings and damaged input go to the generated
// decoder, which then gives its own answer (object or error).
func TestRecordSerializerFallsBack(t *testing.T) {
	s := protoCodecs(t)
	fast := recordSerializer{s}
	ns := encode(t, s, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}})
	if _, _, ok := decodeRecord(ns); ok {
		t.Fatal("fast decoder took a Namespace")
	}
	if obj, _, err := fast.Decode(ns, nil, nil); err != nil || obj.(*corev1.Namespace).Name != "a" {
		t.Fatalf("namespace: %v %v", obj, err)
	}
	svcBytes := encode(t, s, protoFixtures()[0])
	into := &corev1.Service{}
	if obj, _, err := fast.Decode(svcBytes, nil, into); err != nil || obj != into || into.Name != "Web" {
		t.Fatalf("decoding into an object: %v %v", obj, err)
	}
	for _, bad := range [][]byte{svcBytes[:len(svcBytes)/2], svcBytes[4:], {}, []byte(`{"kind":"Service"}`)} {
		if _, _, ok := decodeRecord(bad); ok {
			t.Errorf("fast decoder took %q", bad)
		}
		_, _, err1 := fast.Decode(bad, nil, nil)
		_, _, err2 := s.Decode(bad, nil, nil)
		if (err1 == nil) != (err2 == nil) {
			t.Errorf("fallback error %v, generated %v", err1, err2)
		}
	}
}

// FuzzDecodeRecord: no input panics, and whenever both decoders read an
// input, the records agree.
func FuzzDecodeRecord(f *testing.F) {
	s := protoCodecs(f)
	for _, obj := range protoFixtures() {
		f.Add(encode(f, s, obj))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, _, ok := decodeRecord(b)
		ref, _, err := s.Decode(b, nil, nil)
		if !ok || err != nil {
			return
		}
		if want := recordOf(ref); !reflect.DeepEqual(got.(*protoRecord).rec, want) {
			if got.(*protoRecord).GetName() == "" && want != nil && ref.(metav1.Object).GetName() == "" {
				return // a nameless object is a bookmark to the fast decoder
			}
			t.Fatalf("fast %#v\ngenerated %#v", got.(*protoRecord).rec, want)
		}
	})
}

func BenchmarkDecodeRecord(b *testing.B) {
	s := protoCodecs(b)
	for _, obj := range protoFixtures()[:1] {
		data := encode(b, s, obj)
		b.Run("fast", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				decodeRecord(data)
			}
		})
		b.Run("generated", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				o, _, _ := s.Decode(data, nil, nil)
				recordOf(o)
			}
		})
	}
	sl := protoFixtures()[5]
	data := encode(b, s, sl)
	b.Run("slice-fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			decodeRecord(data)
		}
	})
}
