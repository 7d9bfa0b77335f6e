package apiserver

import (
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/svcnet/svcnet/internal/registry"
)

func (s *Server) serveUpdate(rq *request) error {
	ctx := rq.r.Context()
	wr, err := s.readWrite(rq, &metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	obj, warnings, err := s.bodyObject(rq, wr)
	if err != nil {
		return err
	}
	manager, dry := wr.manager, wr.dryRun
	m, _ := meta.Accessor(obj)
	if m.GetName() != rq.info.Name {
		return apierrors.NewBadRequest("the name of the object (" + m.GetName() + ") does not match the name on the URL (" + rq.info.Name + ")")
	}
	expected := m.GetResourceVersion()
	out, err := s.reg.Update(ctx, rq.res, rq.info.Namespace, rq.info.Name, func(cur runtime.Object) (runtime.Object, error) {
		desired := obj.DeepCopyObject()
		return s.trackUpdate(rq.res, rq.info.Subresource, cur, desired, manager), nil
	}, registry.UpdateOptions{Subresource: rq.info.Subresource, DryRun: dry, ExpectedRV: expected})
	if apierrors.IsNotFound(err) && rq.res.AllowCreateOnUpdate && rq.info.Subresource == "" {
		out, err = s.create(ctx, rq, obj, manager, dry)
		if err == nil {
			addWarnings(rq.w, warnings)
			s.respond(rq, http.StatusCreated, out)
			return nil
		}
	}
	if err != nil {
		return err
	}
	addWarnings(rq.w, warnings)
	s.respond(rq, http.StatusOK, out)
	return nil
}
