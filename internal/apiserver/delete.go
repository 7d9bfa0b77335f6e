package apiserver

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/svcnet/svcnet/internal/kube"
	"github.com/svcnet/svcnet/internal/registry"
)

// deleteOptions reads a delete's metav1.DeleteOptions as kube-apiserver
// does: from the body when there is one, else from the query.
func (s *Server) deleteOptions(rq *request) (registry.DeleteOptions, error) {
	var opts metav1.DeleteOptions
	data, err := readBody(rq.r)
	if err != nil {
		return registry.DeleteOptions{}, err
	}
	if len(bytes.TrimSpace(data)) > 0 {
		if err := s.codecs.decodeInto(rq.r.Header.Get("Content-Type"), data, &opts); err != nil {
			return registry.DeleteOptions{}, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions: %v", err))
		}
	} else if err := kube.DecodeQuery(rq.r.URL.Query(), &opts); err != nil {
		return registry.DeleteOptions{}, apierrors.NewBadRequest(err.Error())
	}
	return registryDeleteOptions(opts)
}

// registryDeleteOptions checks a metav1.DeleteOptions and converts it.
func registryDeleteOptions(opts metav1.DeleteOptions) (registry.DeleteOptions, error) {
	dry, err := checkDryRun(opts.DryRun)
	if err != nil {
		return registry.DeleteOptions{}, err
	}
	out := registry.DeleteOptions{DryRun: dry, GracePeriod: opts.GracePeriodSeconds}
	if opts.Preconditions != nil {
		if opts.Preconditions.UID != nil {
			out.PreconditionUID = string(*opts.Preconditions.UID)
		}
		if opts.Preconditions.ResourceVersion != nil {
			out.PreconditionRV = *opts.Preconditions.ResourceVersion
		}
	}
	if opts.OrphanDependents != nil && *opts.OrphanDependents {
		out.PropagationPolicy = metav1.DeletePropagationOrphan
	}
	if opts.PropagationPolicy != nil {
		switch p := *opts.PropagationPolicy; p {
		case metav1.DeletePropagationBackground, metav1.DeletePropagationForeground, metav1.DeletePropagationOrphan:
			out.PropagationPolicy = p
		default:
			return out, apierrors.NewInvalid(schema.GroupKind{Kind: "DeleteOptions"}, "", fieldErrorList("propagationPolicy",
				fmt.Sprintf("Unsupported value: %q: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"", p)))
		}
	}
	if out.GracePeriod != nil && *out.GracePeriod < 0 {
		return out, apierrors.NewBadRequest("gracePeriodSeconds must be 0 or greater")
	}
	return out, nil
}

func (s *Server) serveDelete(rq *request) error {
	if rq.info.Subresource != "" {
		return apierrors.NewMethodNotSupported(rq.res.GroupResource(), "delete")
	}
	opts, err := s.deleteOptions(rq)
	if err != nil {
		return err
	}
	obj, gone, err := s.reg.Delete(rq.r.Context(), rq.res, rq.info.Namespace, rq.info.Name, opts)
	if err != nil {
		return err
	}
	code := http.StatusOK
	if !gone && opts.PropagationPolicy == metav1.DeletePropagationForeground {
		code = http.StatusAccepted
	}
	s.respond(rq, code, obj)
	return nil
}

func (s *Server) serveDeleteCollection(rq *request) error {
	opts, err := s.deleteOptions(rq)
	if err != nil {
		return err
	}
	sel, err := s.selector(rq)
	if err != nil {
		return err
	}
	list, err := s.reg.List(rq.r.Context(), rq.res, rq.info.Namespace, registry.ListOptions{Selector: sel})
	if err != nil {
		return err
	}
	var deleted []runtime.Object
	for _, obj := range list.Items {
		m, _ := meta.Accessor(obj)
		out, _, err := s.reg.Delete(rq.r.Context(), rq.res, m.GetNamespace(), m.GetName(), opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		deleted = append(deleted, out)
	}
	listObj := rq.res.NewList()
	_ = meta.SetList(listObj, deleted)
	listObj.GetObjectKind().SetGroupVersionKind(rq.res.GVR.GroupVersion().WithKind(rq.res.ListKind))
	lm, _ := meta.ListAccessor(listObj)
	lm.SetResourceVersion(strconv.FormatInt(list.Revision, 10))
	s.codecs.writeObject(rq.w, rq.out, http.StatusOK, listObj)
	return nil
}
