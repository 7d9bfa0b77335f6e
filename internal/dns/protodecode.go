package dns

import (
	"bytes"
	"net/netip"
	"slices"
	"sync"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file reads Services and EndpointSlices from the API's protobuf
// straight into DNS records, without building the API objects: no
// managedFields, label maps, timestamps or per-endpoint condition pointers
// are allocated only to be dropped. It is the DNS's start-up and relist
// path (a third of its CPU went to decoding and the garbage it left). Only
// the fields DNS reads are looked at (the rest is skipped unread); anything
// unexpected (another kind, a field it reads with the wrong wire type,
// truncated input) falls back to the generated decoder. FuzzDecodeRecord
// holds both to the same records wherever both decode.

// protoMagic prefixes every Kubernetes protobuf object.
var protoMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// protoRecord is what the fast decoder hands the reflector: the identity
// and resourceVersion it reads (and a bookmark's annotations), and the
// record the store keeps (nil for a bookmark).
type protoRecord struct {
	metav1.TypeMeta
	metav1.ObjectMeta
	rec any // *svcRecord or *sliceRecord
}

func (o *protoRecord) DeepCopyObject() runtime.Object {
	c := *o
	o.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	return &c // records are never changed: sharing rec is a copy
}

// recordCodecs is a NegotiatedSerializer whose protobuf decoder takes the
// fast path for Services and EndpointSlices.
type recordCodecs struct {
	runtime.NegotiatedSerializer
	infos []runtime.SerializerInfo
}

func newRecordCodecs(ns runtime.NegotiatedSerializer) recordCodecs {
	infos := slices.Clone(ns.SupportedMediaTypes())
	for i := range infos {
		if infos[i].MediaType == runtime.ContentTypeProtobuf {
			infos[i].Serializer = recordSerializer{infos[i].Serializer}
		}
	}
	return recordCodecs{NegotiatedSerializer: ns, infos: infos}
}

func (c recordCodecs) SupportedMediaTypes() []runtime.SerializerInfo { return c.infos }

// recordSerializer decodes through decodeRecord when it can.
type recordSerializer struct{ runtime.Serializer }

func (s recordSerializer) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if into == nil {
		if obj, gvk, ok := decodeRecord(data); ok {
			return obj, gvk, nil
		}
	}
	return s.Serializer.Decode(data, defaults, into)
}

var (
	serviceGVK        = corev1.SchemeGroupVersion.WithKind("Service")
	sliceGVK          = discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice")
	serviceAPIVersion = serviceGVK.GroupVersion().String()
	sliceAPIVersion   = sliceGVK.GroupVersion().String()
)

// decodeRecord reads a protobuf Service or EndpointSlice into a
// protoRecord; ok is false for anything else or anything malformed.
func decodeRecord(data []byte) (obj runtime.Object, gvk *schema.GroupVersionKind, ok bool) {
	b, ok := bytes.CutPrefix(data, protoMagic)
	if !ok {
		return nil, nil, false
	}
	// runtime.Unknown: typeMeta = 1 {apiVersion = 1, kind = 2}, raw = 2.
	var apiVersion, kind, raw []byte
	ok = eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
		switch num {
		case 1:
			return typ == protowire.BytesType && eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) bool {
				switch num {
				case 1:
					apiVersion = v
				case 2:
					kind = v
				default:
					return true
				}
				return typ == protowire.BytesType
			})
		case 2:
			raw = v
			return typ == protowire.BytesType
		}
		return true
	})
	if !ok {
		return nil, nil, false
	}
	switch {
	case string(kind) == serviceGVK.Kind && string(apiVersion) == serviceAPIVersion:
		o := &protoRecord{TypeMeta: metav1.TypeMeta{APIVersion: serviceAPIVersion, Kind: serviceGVK.Kind}}
		if !decodeService(raw, o) {
			return nil, nil, false
		}
		return o, &serviceGVK, true
	case string(kind) == sliceGVK.Kind && string(apiVersion) == sliceAPIVersion:
		o := &protoRecord{TypeMeta: metav1.TypeMeta{APIVersion: sliceAPIVersion, Kind: sliceGVK.Kind}}
		if !decodeSlice(raw, o) {
			return nil, nil, false
		}
		return o, &sliceGVK, true
	}
	return nil, nil, false
}

// Views are reused between objects: a record copies what it keeps.
var (
	serviceViews = sync.Pool{New: func() any { return new(serviceView) }}
	sliceViews   = sync.Pool{New: func() any { return new(sliceView) }}
)

// decodeService reads a Service: metadata = 1, spec = 2 (status = 3 is
// not read).
func decodeService(b []byte, o *protoRecord) bool {
	v := serviceViews.Get().(*serviceView)
	defer serviceViews.Put(v)
	*v = serviceView{clusterIPs: v.clusterIPs[:0], ports: v.ports[:0]}
	ok := eachField(b, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) bool {
		switch num {
		case 1:
			return typ == protowire.BytesType && decodeMeta(b, o, nil)
		case 2:
			return typ == protowire.BytesType && decodeServiceSpec(b, v)
		}
		return true
	})
	if !ok {
		return false
	}
	if o.Name != "" { // a bookmark has no name, and no record
		v.name, v.namespace = o.Name, o.Namespace
		o.rec = &svcRecord{svc: v.service()}
	}
	return true
}

// decodeServiceSpec reads ports = 1, clusterIP = 3, type = 4,
// externalName = 10 and clusterIPs = 18.
func decodeServiceSpec(b []byte, v *serviceView) bool {
	return eachField(b, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) bool {
		switch num {
		case 1:
			p := portView{hasProto: true, hasPort: true}
			if typ != protowire.BytesType || !decodePort(b, &p) {
				return false
			}
			v.ports = append(v.ports, p)
		case 3:
			v.clusterIP = str(b)
		case 4:
			v.typ = str(b)
		case 10:
			v.externalName = string(b)
		case 18:
			if a, ok := parseAddr(b); ok {
				v.clusterIPs = append(v.clusterIPs, a)
			}
		default:
			return true
		}
		return typ == protowire.BytesType
	})
}

// decodePort reads a ServicePort or EndpointPort: name = 1, protocol = 2,
// port = 3 (the same numbers in both).
func decodePort(b []byte, p *portView) bool {
	return eachField(b, func(num protowire.Number, typ protowire.Type, b []byte, x uint64) bool {
		switch num {
		case 1:
			p.name = str(b)
		case 2:
			p.proto, p.hasProto = str(b), true
		case 3:
			p.port, p.hasPort = int32(x), true
			return typ == protowire.VarintType
		default:
			return true
		}
		return typ == protowire.BytesType
	})
}

// decodeSlice reads an EndpointSlice: metadata = 1, endpoints = 2,
// ports = 3, addressType = 4.
func decodeSlice(b []byte, o *protoRecord) bool {
	v := sliceViews.Get().(*sliceView)
	defer sliceViews.Put(v)
	*v = sliceView{ports: v.ports[:0], eps: v.eps[:0]}
	ok := eachField(b, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) bool {
		switch num {
		case 1:
			return typ == protowire.BytesType && decodeMeta(b, o, v)
		case 2:
			if typ != protowire.BytesType {
				return false
			}
			v.eps = slices.Grow(v.eps, 1)[:len(v.eps)+1]
			e := &v.eps[len(v.eps)-1]
			*e = endpointView{addrs: e.addrs[:0], ready: true}
			return decodeEndpoint(b, e)
		case 3:
			var p portView
			if typ != protowire.BytesType || !decodePort(b, &p) {
				return false
			}
			v.ports = append(v.ports, p)
		case 4:
			v.addressType = str(b)
			return typ == protowire.BytesType
		}
		return true
	})
	if !ok {
		return false
	}
	if o.Name != "" {
		v.ns, v.name = o.Namespace, o.Name
		o.rec = v.slice()
	}
	return true
}

// decodeEndpoint reads addresses = 1, conditions = 2 {ready = 1} and
// hostname = 3.
func decodeEndpoint(b []byte, e *endpointView) bool {
	return eachField(b, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) bool {
		switch num {
		case 1:
			if a, ok := parseAddr(b); ok {
				e.addrs = append(e.addrs, a)
			}
		case 2:
			return typ == protowire.BytesType && eachField(b, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) bool {
				if num == 1 {
					e.ready = x != 0
					return typ == protowire.VarintType
				}
				return true
			})
		case 3:
			e.host = string(b)
		default:
			return true
		}
		return typ == protowire.BytesType
	})
}

// decodeMeta reads ObjectMeta's name = 1, namespace = 3,
// resourceVersion = 6, and of a slice (v set) its service-name label
// (labels = 11) and trigger time (annotations = 12); a bookmark's
// initial-events-end annotation goes to o.
func decodeMeta(b []byte, o *protoRecord, v *sliceView) bool {
	return eachField(b, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) bool {
		switch num {
		case 1:
			o.Name = string(b)
		case 3:
			o.Namespace = string(b)
		case 6:
			o.ResourceVersion = string(b)
		case 11:
			k, val, ok := mapEntry(b)
			if v != nil && string(k) == discoveryv1.LabelServiceName {
				v.service = string(val)
			}
			return ok && typ == protowire.BytesType
		case 12:
			k, val, ok := mapEntry(b)
			switch {
			case string(k) == metav1.InitialEventsAnnotationKey:
				if o.Annotations == nil {
					o.Annotations = map[string]string{}
				}
				o.Annotations[metav1.InitialEventsAnnotationKey] = string(val)
			case v != nil && string(k) == corev1.EndpointsLastChangeTriggerTime:
				v.trigger = string(val)
			}
			return ok && typ == protowire.BytesType
		default:
			return true
		}
		return typ == protowire.BytesType
	})
}

// mapEntry reads a map<string, string> entry: key = 1, value = 2.
func mapEntry(b []byte) (k, v []byte, ok bool) {
	ok = eachField(b, func(num protowire.Number, typ protowire.Type, b []byte, _ uint64) bool {
		switch num {
		case 1:
			k = b
		case 2:
			v = b
		default:
			return true
		}
		return typ == protowire.BytesType
	})
	return k, v, ok
}

// parseAddr parses an address without copying it first (a zoned address,
// which would keep the string, is copied).
func parseAddr(b []byte) (netip.Addr, bool) {
	if len(b) == 0 {
		return netip.Addr{}, false
	}
	s := unsafe.String(&b[0], len(b))
	if bytes.IndexByte(b, '%') >= 0 {
		s = string(b)
	}
	a, err := netip.ParseAddr(s)
	return a, err == nil
}

// str is string(b), without allocating for the values most objects share.
func str(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "ClusterIP":
		return "ClusterIP"
	case "None":
		return "None"
	case "TCP":
		return "TCP"
	case "UDP":
		return "UDP"
	case "IPv4":
		return "IPv4"
	case "IPv6":
		return "IPv6"
	case "http":
		return "http"
	case "https":
		return "https"
	}
	return string(b)
}

// eachField calls f with every field of a message: its number, wire type,
// contents (length-delimited) or value (varint, fixed). It stops, false, at
// malformed input or when f returns false.
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, v []byte, x uint64) bool) bool {
	for len(b) > 0 {
		// Fast path: a one-byte tag and a one-byte length or value (fields
		// 1-15 under 128 bytes: most of what DNS reads).
		if t := b[0]; t < 0x80 && len(b) >= 2 && b[1] < 0x80 && t>>3 != 0 {
			num, typ := protowire.Number(t>>3), protowire.Type(t&7)
			switch typ {
			case protowire.BytesType:
				l := int(b[1])
				if len(b) < 2+l {
					return false
				}
				if !f(num, typ, b[2:2+l], 0) {
					return false
				}
				b = b[2+l:]
				continue
			case protowire.VarintType:
				if !f(num, typ, nil, uint64(b[1])) {
					return false
				}
				b = b[2:]
				continue
			}
		}
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var x32 uint32
			x32, n = protowire.ConsumeFixed32(b)
			x = uint64(x32)
		case protowire.Fixed64Type:
			x, n = protowire.ConsumeFixed64(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 || !f(num, typ, v, x) {
			return false
		}
		b = b[n:]
	}
	return true
}
