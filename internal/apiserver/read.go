package apiserver

import (
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/svcnet/svcnet/internal/registry"
)

func (s *Server) serveGet(rq *request) error {
	obj, err := s.reg.Get(rq.r.Context(), rq.res, rq.info.Namespace, rq.info.Name)
	if err != nil {
		return err
	}
	s.respond(rq, http.StatusOK, obj)
	return nil
}

func (s *Server) selector(rq *request) (registry.Selector, error) {
	var sel registry.Selector
	if ls := rq.param("labelSelector"); ls != "" {
		l, err := labels.Parse(ls)
		if err != nil {
			return sel, apierrors.NewBadRequest(fmt.Sprintf("unable to parse requirement: %v", err))
		}
		sel.Labels = l
	}
	if fs := rq.param("fieldSelector"); fs != "" {
		f, err := fields.ParseSelector(fs)
		if err != nil {
			return sel, apierrors.NewBadRequest(fmt.Sprintf("invalid field selector: %v", err))
		}
		if err := s.reg.CheckFieldSelector(rq.res, f); err != nil {
			return sel, err
		}
		sel.Fields = f
	}
	return sel, nil
}

func (s *Server) serveList(rq *request) error {
	sel, err := s.selector(rq)
	if err != nil {
		return err
	}
	o := registry.ListOptions{Selector: sel, Continue: rq.param("continue"), Stored: (rq.out == fmtProtobuf || rq.out == fmtMetadataProtobuf) && !rq.res.Custom()}
	if l := rq.param("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q", l))
		}
		o.Limit = n
	}
	if err := checkResourceVersionMatch(rq.param("resourceVersion"), rq.param("resourceVersionMatch")); err != nil {
		return err
	}
	// An exact match, or (the legacy rule) a non-zero resourceVersion with
	// a limit and no match: the list at exactly that revision.
	match := rq.param("resourceVersionMatch")
	if rv := rq.param("resourceVersion"); rv != "" && (match == string(metav1.ResourceVersionMatchExact) || (match == "" && o.Limit > 0 && o.Continue == "" && rv != "0")) {
		n, err := strconv.ParseInt(rv, 10, 64)
		if err != nil || n <= 0 {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rv))
		}
		o.Revision = n
	} else if rv == "0" {
		o.Stale = true
	} else if rv != "" {
		n, err := strconv.ParseUint(rv, 10, 63)
		if err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rv))
		}
		o.MinRevision = int64(n)
	}
	result, err := s.reg.List(rq.r.Context(), rq.res, rq.info.Namespace, o)
	if err != nil {
		return err
	}
	// Not older than a resourceVersion the store has not reached yet:
	// kube-apiserver waits for its cache briefly, then answers this.
	if n, err := strconv.ParseInt(rq.param("resourceVersion"), 10, 64); err == nil && n > result.Revision && o.Revision == 0 && o.Continue == "" {
		return registry.TooLargeResourceVersion(n, result.Revision)
	}
	rv := strconv.FormatInt(result.Revision, 10)
	switch rq.out {
	case fmtTable:
		t := registry.ToTable(rq.res.Table, result.Items, s.reg.Now(), true)
		t.ResourceVersion, t.Continue, t.RemainingItemCount = rv, result.Continue, result.Remaining
		encodeRowObjects(t)
		s.codecs.writeObject(rq.w, fmtTable, http.StatusOK, t)
	case fmtMetadata, fmtMetadataProtobuf:
		lm := metav1.ListMeta{ResourceVersion: rv, Continue: result.Continue, RemainingItemCount: result.Remaining}
		if rq.out == fmtMetadataProtobuf {
			if b, ok := registry.ProtobufMetadataList(result.Items, lm); ok {
				rq.w.Header().Set("Content-Type", mediaProtobuf)
				rq.w.WriteHeader(http.StatusOK)
				_, _ = rq.w.Write(b)
				return nil
			}
		}
		list := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/v1"}, ListMeta: lm}
		for _, obj := range result.Items {
			o, err := s.reg.Object(obj)
			if err != nil {
				s.log.Error("skipping undecodable object", "resource", rq.res.GVR.Resource, "err", err)
				continue
			}
			list.Items = append(list.Items, *partialMetadata(o))
		}
		s.codecs.writeObject(rq.w, metadataWire(rq.out), http.StatusOK, list)
	default:
		if b, ok := registry.ProtobufList(rq.res, result.Items, metav1.ListMeta{ResourceVersion: rv, Continue: result.Continue, RemainingItemCount: result.Remaining}); ok {
			rq.w.Header().Set("Content-Type", mediaProtobuf)
			rq.w.WriteHeader(http.StatusOK)
			_, _ = rq.w.Write(b)
			return nil
		}
		items := result.Items[:0]
		for _, obj := range result.Items {
			o, err := s.reg.Object(obj)
			if err != nil { // as a list decoded by the registry does
				s.log.Error("skipping undecodable object", "resource", rq.res.GVR.Resource, "err", err)
				continue
			}
			items = append(items, o)
		}
		result.Items = items
		list := rq.res.NewList()
		if err := meta.SetList(list, result.Items); err != nil {
			return apierrors.NewInternalError(err)
		}
		lm, _ := meta.ListAccessor(list)
		lm.SetResourceVersion(rv)
		lm.SetContinue(result.Continue)
		lm.SetRemainingItemCount(result.Remaining)
		list.GetObjectKind().SetGroupVersionKind(rq.res.GVR.GroupVersion().WithKind(rq.res.ListKind))
		s.codecs.writeObject(rq.w, rq.out, http.StatusOK, list)
	}
	return nil
}

// checkResourceVersionMatch validates resourceVersionMatch as
// kube-apiserver's ListOptions validation does (422 with the field).
func checkResourceVersionMatch(rv, match string) error {
	if match == "" {
		return nil
	}
	p := field.NewPath("resourceVersionMatch")
	var errs field.ErrorList
	switch metav1.ResourceVersionMatch(match) {
	case metav1.ResourceVersionMatchExact, metav1.ResourceVersionMatchNotOlderThan:
		if rv == "" {
			errs = append(errs, field.Forbidden(p, "resourceVersionMatch is forbidden unless resourceVersion is provided"))
		} else if rv == "0" && match == string(metav1.ResourceVersionMatchExact) {
			errs = append(errs, field.Forbidden(p, `resourceVersionMatch "exact" is forbidden for resourceVersion "0"`))
		}
	default:
		errs = append(errs, field.NotSupported(p, match, []string{string(metav1.ResourceVersionMatchExact), string(metav1.ResourceVersionMatchNotOlderThan)}))
	}
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "ListOptions"}, "", errs)
}
