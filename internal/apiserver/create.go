package apiserver

import (
	"context"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func (s *Server) serveCreate(rq *request) error {
	if rq.info.Subresource != "" {
		return apierrors.NewMethodNotSupported(rq.res.GroupResource(), "create")
	}
	wr, err := s.readWrite(rq, &metav1.CreateOptions{})
	if err != nil {
		return err
	}
	obj, warnings, err := s.bodyObject(rq, wr)
	if err != nil {
		return err
	}
	if rq.info.Name != "" {
		return apierrors.NewMethodNotSupported(rq.res.GroupResource(), "create")
	}
	created, err := s.create(rq.r.Context(), rq, obj, wr.manager, wr.dryRun)
	if err != nil {
		return err
	}
	addWarnings(rq.w, warnings)
	s.respond(rq, http.StatusCreated, created)
	return nil
}

func (s *Server) create(ctx context.Context, rq *request, obj runtime.Object, manager string, dry bool) (runtime.Object, error) {
	m, _ := meta.Accessor(obj)
	if m.GetName() == "" && m.GetGenerateName() == "" {
		return nil, apierrors.NewInvalid(rq.res.GroupVersionKind().GroupKind(), "", fieldErrorList("metadata.name", "name or generateName is required"))
	}
	if err := admitNode(userFrom(ctx), rq.res, obj); err != nil {
		return nil, err
	}
	if rq.res.Namespaced {
		if err := s.reg.CheckNamespace(ctx, m.GetNamespace()); err != nil {
			return nil, err
		}
	}
	if err := s.reg.PrepareCreate(rq.res, obj); err != nil {
		return nil, err
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		if err := s.admitPod(ctx, pod); err != nil {
			return nil, err
		}
	}
	obj = s.trackUpdate(rq.res, "", rq.res.New(), obj, manager)
	return s.reg.Create(ctx, rq.res, obj, dry)
}
