package registry

import (
	"bytes"
	"errors"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/svcnet/svcnet/internal/watchcache"
)

// StoredObject is an object as etcd holds it (the Kubernetes protobuf
// encoding, without its resourceVersion) and the revision that is its
// resourceVersion. Lists and watches that need no selector hand these out
// when asked (ListOptions.Stored, WatchOptions.Stored): the API serves them
// to protobuf clients without decoding and re-encoding each object, which
// was most of the cost of a large list.
type StoredObject struct {
	Resource *Resource
	Value    []byte
	Revision int64
	// cached, when set, holds the bytes instead of Value: a watch cache
	// object kept compressed, read only when the object is written out.
	cached *watchcache.Object
}

// bytes is the stored bytes: Value, or the cached object's, written into
// *buf when buf is given (a list's objects reuse one buffer).
func (o *StoredObject) bytes(buf *[]byte) ([]byte, error) {
	if o.cached == nil {
		return o.Value, nil
	}
	if buf == nil {
		return o.cached.Value()
	}
	v, err := o.cached.AppendValue((*buf)[:0])
	if err == nil {
		*buf = v
	}
	return v, err
}

// size is the stored bytes' length.
func (o *StoredObject) size() int {
	if o.cached != nil {
		return o.cached.Size()
	}
	return len(o.Value)
}

// GetObjectKind reports the resource's kind; it cannot be changed.
func (o *StoredObject) GetObjectKind() schema.ObjectKind {
	return storedKind(o.Resource.GroupVersionKind())
}

func (o *StoredObject) DeepCopyObject() runtime.Object {
	c := *o
	c.Value = append([]byte(nil), o.Value...)
	return &c
}

type storedKind schema.GroupVersionKind

func (k storedKind) SetGroupVersionKind(schema.GroupVersionKind) {}
func (k storedKind) GroupVersionKind() schema.GroupVersionKind   { return schema.GroupVersionKind(k) }

// Object decodes a StoredObject (other objects are returned as they are).
func (r *Registry) Object(obj runtime.Object) (runtime.Object, error) {
	s, ok := obj.(*StoredObject)
	if !ok {
		return obj, nil
	}
	value, err := s.bytes(nil)
	if err != nil {
		return nil, err
	}
	return r.decodeValue(s.Resource, "", value, s.Revision)
}

// Stored objects reach protobuf clients as etcd holds them: the stored
// bytes are the object's protobuf encoding without a resourceVersion, and
// protobuf merges a message field that appears twice, so appending
// `metadata { resourceVersion: rv }` to the object gives the object with
// its resourceVersion — no decoding, no re-encoding. Every kind's
// ObjectMeta is its field 1 and resourceVersion is ObjectMeta's field 6; a
// test holds this for every resource the API serves.

var protoMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// storedParts splits a stored object: its envelope's typeMeta field (as
// encoded) and the object's message.
func storedParts(stored []byte) (typeMeta, raw []byte, err error) {
	b, ok := bytes.CutPrefix(stored, protoMagic)
	if !ok {
		return nil, nil, errors.New("stored object is not protobuf")
	}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, nil, protowire.ParseError(m)
		}
		switch {
		case num == 1 && typ == protowire.BytesType:
			typeMeta = b[:n+m]
		case num == 2 && typ == protowire.BytesType:
			raw, _ = protowire.ConsumeBytes(b[n:])
		}
		b = b[n+m:]
	}
	return typeMeta, raw, nil
}

// appendVersioned appends field num holding the object message raw with
// its resourceVersion set to rev.
func appendVersioned(out []byte, num protowire.Number, raw []byte, rev int64) []byte {
	var rvBuf [20]byte
	rv := strconv.AppendInt(rvBuf[:0], rev, 10)
	meta := protowire.SizeTag(6) + protowire.SizeBytes(len(rv))
	out = protowire.AppendTag(out, num, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(len(raw)+protowire.SizeTag(1)+protowire.SizeBytes(meta)))
	out = append(out, raw...)
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(meta))
	out = protowire.AppendTag(out, 6, protowire.BytesType)
	return protowire.AppendBytes(out, rv)
}

// AppendProtobuf appends the object as the API sends it in protobuf, with
// its resourceVersion.
func (o *StoredObject) AppendProtobuf(out []byte) ([]byte, error) {
	value, err := o.bytes(nil)
	if err != nil {
		return out, err
	}
	typeMeta, raw, err := storedParts(value)
	if err != nil {
		return out, err
	}
	out = append(out, protoMagic...)
	out = append(out, typeMeta...)
	return appendVersioned(out, 2, raw, o.Revision), nil
}

// metadataField is the object's metadata field (ObjectMeta, field 1) as
// encoded: a PartialObjectMetadata message holds exactly that.
func metadataField(raw []byte) ([]byte, error) {
	b := raw
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		if num == 1 && typ == protowire.BytesType {
			return b[:n+m], nil
		}
		b = b[n+m:]
	}
	return nil, nil
}

// appendEnvelopeTypeMeta appends the envelope's typeMeta field.
func appendEnvelopeTypeMeta(out []byte, apiVersion, kind string) []byte {
	tm := protowire.AppendTag(nil, 1, protowire.BytesType)
	tm = protowire.AppendString(tm, apiVersion)
	tm = protowire.AppendTag(tm, 2, protowire.BytesType)
	tm = protowire.AppendString(tm, kind)
	out = protowire.AppendTag(out, 1, protowire.BytesType)
	return protowire.AppendBytes(out, tm)
}

// AppendPartialMetadataProtobuf appends the object as a protobuf
// PartialObjectMetadata (meta.k8s.io/v1), cut from the stored bytes
// without decoding them: the garbage collector's and the namespace
// controller's metadata informers read every object this way.
func (o *StoredObject) AppendPartialMetadataProtobuf(out []byte) ([]byte, error) {
	value, err := o.bytes(nil)
	if err != nil {
		return out, err
	}
	_, raw, err := storedParts(value)
	if err != nil {
		return out, err
	}
	md, err := metadataField(raw)
	if err != nil {
		return out, err
	}
	out = append(out, protoMagic...)
	out = appendEnvelopeTypeMeta(out, "meta.k8s.io/v1", "PartialObjectMetadata")
	return appendVersioned(out, 2, md, o.Revision), nil
}

// ProtobufMetadataList is a PartialObjectMetadataList of stored objects in
// protobuf; ok is false when an item is not a stored protobuf object.
func ProtobufMetadataList(items []runtime.Object, lm metav1.ListMeta) (out []byte, ok bool) {
	meta, err := lm.Marshal()
	if err != nil {
		return nil, false
	}
	list := protowire.AppendTag(nil, 1, protowire.BytesType)
	list = protowire.AppendBytes(list, meta)
	var buf []byte
	for _, it := range items {
		so, ok := it.(*StoredObject)
		if !ok {
			return nil, false
		}
		value, err := so.bytes(&buf)
		if err != nil {
			return nil, false
		}
		_, raw, err := storedParts(value)
		if err != nil {
			return nil, false
		}
		md, err := metadataField(raw)
		if err != nil {
			return nil, false
		}
		list = appendVersioned(list, 2, md, so.Revision)
	}
	out = append(out, protoMagic...)
	out = appendEnvelopeTypeMeta(out, "meta.k8s.io/v1", "PartialObjectMetadataList")
	out = protowire.AppendTag(out, 2, protowire.BytesType)
	return protowire.AppendBytes(out, list), true
}

// ProtobufList is a list of stored objects in protobuf: the envelope, then
// the list message (metadata = 1, items = 2). ok is false when an item is
// not a stored protobuf object (the list is then encoded as usual).
func ProtobufList(res *Resource, items []runtime.Object, lm metav1.ListMeta) (out []byte, ok bool) {
	if len(items) == 0 {
		return nil, false
	}
	meta, err := lm.Marshal()
	if err != nil {
		return nil, false
	}
	size := len(meta) + 16
	for _, it := range items {
		so, ok := it.(*StoredObject)
		if !ok {
			return nil, false
		}
		size += so.size() + 32
	}
	list := make([]byte, 0, size)
	list = protowire.AppendTag(list, 1, protowire.BytesType)
	list = protowire.AppendBytes(list, meta)
	var buf []byte
	for _, it := range items {
		so := it.(*StoredObject)
		value, err := so.bytes(&buf)
		if err != nil {
			return nil, false
		}
		_, raw, err := storedParts(value)
		if err != nil {
			return nil, false
		}
		list = appendVersioned(list, 2, raw, so.Revision)
	}
	out = make([]byte, 0, len(list)+64)
	out = append(out, protoMagic...)
	out = appendEnvelopeTypeMeta(out, res.GVR.GroupVersion().String(), res.ListKind)
	out = protowire.AppendTag(out, 2, protowire.BytesType)
	return protowire.AppendBytes(out, list), true
}
