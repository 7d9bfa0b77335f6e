package apiserver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apimachinery/pkg/watch"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/svcnet/svcnet/internal/registry"
)

func (s *Server) serveWatch(rq *request) error {
	sel, err := s.selector(rq)
	if err != nil {
		return err
	}
	if rq.info.Name != "" {
		nameSel := fields.OneTermEqualSelector("metadata.name", rq.info.Name)
		if sel.Fields == nil {
			sel.Fields = nameSel
		} else {
			sel.Fields = fields.AndSelectors(sel.Fields, nameSel)
		}
	}
	o := registry.WatchOptions{Selector: sel, Bookmarks: rq.param("allowWatchBookmarks") == "true", Stored: (rq.out == fmtProtobuf || rq.out == fmtMetadataProtobuf) && !rq.res.Custom()}
	rv := rq.param("resourceVersion")
	match := rq.param("resourceVersionMatch")
	sendInitial := rq.param("sendInitialEvents")
	switch {
	case sendInitial != "":
		var errs field.ErrorList
		if match != string(metav1.ResourceVersionMatchNotOlderThan) {
			errs = append(errs, field.Forbidden(field.NewPath("resourceVersionMatch"), "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
		}
		if sendInitial == "true" && !o.Bookmarks {
			errs = append(errs, field.Forbidden(field.NewPath("allowWatchBookmarks"), "sendInitialEvents requires setting allowWatchBookmarks to true"))
		}
		if len(errs) > 0 {
			return apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "ListOptions"}, "", errs)
		}
		if sendInitial == "true" {
			o.InitialEvents, o.InitialEventsEnd = true, true
			o.Consistent = rv == ""
			if rv != "" && rv != "0" {
				n, err := strconv.ParseInt(rv, 10, 64)
				if err != nil || n < 0 {
					return apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rv))
				}
				o.MinRevision = n
			}
		} else if rv != "" && rv != "0" {
			n, err := strconv.ParseInt(rv, 10, 64)
			if err != nil {
				return apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rv))
			}
			o.FromRevision = n
		}
	case rv == "" || rv == "0":
		o.InitialEvents, o.Consistent = true, rv == ""
	default:
		n, err := strconv.ParseInt(rv, 10, 64)
		if err != nil || n < 0 {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rv))
		}
		o.FromRevision = n
	}
	timeout := time.Duration(1800+rand.IntN(1800)) * time.Second
	if t := rq.param("timeoutSeconds"); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 {
			return apierrors.NewBadRequest("invalid timeoutSeconds")
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	ctx := rq.r.Context()
	w, err := s.reg.Watch(ctx, rq.res, rq.info.Namespace, o)
	if err != nil {
		return err
	}
	defer w.Stop()
	enc := s.newWatchEncoder(rq)
	rq.w.Header().Set("Content-Type", enc.contentType)
	rq.w.Header().Set("Transfer-Encoding", "chunked")
	rq.w.WriteHeader(http.StatusOK)
	flusher, _ := rq.w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
			return nil
		case ev, ok := <-w.Events():
			if !ok {
				return nil
			}
			if err := enc.write(ev); err != nil {
				return nil
			}
			// Drain what is already queued, then write it all at once.
			for drained := 0; drained < 64 && len(w.Events()) > 0; drained++ {
				ev, ok := <-w.Events()
				if !ok {
					break
				}
				if err := enc.write(ev); err != nil {
					return nil
				}
			}
			if err := enc.flush(); err != nil {
				return nil
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}

// watchEncoder turns events into the response's format; write queues an
// event, flush sends what is queued in one write.
type watchEncoder struct {
	s           *Server
	rq          *request
	contentType string
	headersSent bool
	buf         bytes.Buffer // one encoded object
	obj         []byte       // one stored object in protobuf
	out         []byte       // queued events
}

func (s *Server) newWatchEncoder(rq *request) *watchEncoder {
	e := &watchEncoder{s: s, rq: rq, contentType: mediaJSON}
	switch rq.out {
	case fmtProtobuf, fmtMetadataProtobuf:
		e.contentType = mediaProtobuf + ";stream=watch"
	case fmtTable:
		e.contentType = mediaTable
	case fmtYAML:
		e.rq.out = fmtJSON
	}
	return e
}

func (e *watchEncoder) flush() error {
	if len(e.out) == 0 {
		return nil
	}
	_, err := e.rq.w.Write(e.out)
	e.out = e.out[:0]
	return err
}

func (e *watchEncoder) write(ev watch.Event) error {
	obj := ev.Object
	if so, ok := obj.(*registry.StoredObject); ok {
		var err error
		switch e.rq.out {
		case fmtProtobuf:
			if e.obj, err = so.AppendProtobuf(e.obj[:0]); err == nil {
				e.appendProtobufEvent(ev.Type, e.obj)
				return nil
			}
		case fmtMetadataProtobuf:
			if e.obj, err = so.AppendPartialMetadataProtobuf(e.obj[:0]); err == nil {
				e.appendProtobufEvent(ev.Type, e.obj)
				return nil
			}
		}
		if obj, err = e.s.reg.Object(so); err != nil { // skipped, as the registry skips what it cannot decode
			e.s.log.Error("watch: undecodable object", "resource", e.rq.res.GVR.Resource, "err", err)
			return nil
		}
	}
	if st, ok := obj.(*metav1.Status); ok {
		st.Kind, st.APIVersion = "Status", "v1"
	} else {
		switch e.rq.out {
		case fmtTable:
			if ev.Type != watch.Bookmark {
				t := registryTable(e.s, e.rq, obj, !e.headersSent)
				e.headersSent = true
				obj = t
			}
		case fmtMetadata, fmtMetadataProtobuf:
			obj = partialMetadata(obj)
		}
	}
	e.buf.Reset()
	if e.rq.out == fmtProtobuf || e.rq.out == fmtMetadataProtobuf {
		if err := e.s.codecs.proto.Encode(obj, &e.buf); err != nil {
			return err
		}
		e.appendProtobufEvent(ev.Type, e.buf.Bytes())
		return nil
	}
	var raw []byte
	var err error
	if _, isTable := obj.(*metav1.Table); isTable {
		raw, err = json.Marshal(obj)
	} else if _, isPOM := obj.(*metav1.PartialObjectMetadata); isPOM {
		raw, err = json.Marshal(obj)
	} else if _, isStatus := obj.(*metav1.Status); isStatus {
		raw, err = json.Marshal(obj)
	} else {
		raw, err = e.s.codecs.toJSON(obj)
	}
	if err != nil {
		return err
	}
	e.out = append(e.out, `{"type":"`...)
	e.out = append(e.out, ev.Type...)
	e.out = append(e.out, `","object":`...)
	e.out = append(e.out, bytes.TrimRight(raw, "\n")...)
	e.out = append(e.out, "}\n"...)
	return nil
}

// appendProtobufEvent queues one event of an object in protobuf: a
// length-delimited frame of a WatchEvent {type = 1, object = 2 {raw = 1}}.
func (e *watchEncoder) appendProtobufEvent(t watch.EventType, raw []byte) {
	ext := 0
	if raw != nil { // as the generated encoder: nil is absent, empty is not
		ext = protowire.SizeTag(1) + protowire.SizeBytes(len(raw))
	}
	size := protowire.SizeTag(1) + protowire.SizeBytes(len(t)) + protowire.SizeTag(2) + protowire.SizeBytes(ext)
	e.out = binary.BigEndian.AppendUint32(e.out, uint32(size))
	e.out = protowire.AppendTag(e.out, 1, protowire.BytesType)
	e.out = protowire.AppendString(e.out, string(t))
	e.out = protowire.AppendTag(e.out, 2, protowire.BytesType)
	e.out = protowire.AppendVarint(e.out, uint64(ext))
	if raw != nil {
		e.out = protowire.AppendTag(e.out, 1, protowire.BytesType)
		e.out = protowire.AppendBytes(e.out, raw)
	}
}
