package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/svcnet/svcnet/internal/registry"
)

func patchType(ct string) (types.PatchType, error) {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = ct
	}
	switch types.PatchType(mt) {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType, types.ApplyYAMLPatchType:
		return types.PatchType(mt), nil
	}
	return "", apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", schema.GroupResource{}, "",
		fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"), 0, false)
}

// applyPatch applies a JSON, merge or strategic merge patch to an object's JSON.
func applyPatch(pt types.PatchType, cur []byte, patch []byte, schemaObj runtime.Object) ([]byte, error) {
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		out, err := p.Apply(cur)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", schema.GroupResource{}, "", err.Error(), 0, false)
		}
		return out, nil
	case types.MergePatchType:
		out, err := jsonpatch.MergePatch(cur, patch)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	case types.StrategicMergePatchType:
		out, err := strategicpatch.StrategicMergePatch(cur, patch, schemaObj)
		if err != nil {
			return nil, apierrors.NewBadRequest(err.Error())
		}
		return out, nil
	}
	return nil, apierrors.NewBadRequest("unsupported patch type " + string(pt))
}

func (s *Server) servePatch(rq *request) error {
	ctx := rq.r.Context()
	pt, err := patchType(rq.r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	if pt == types.StrategicMergePatchType && rq.res.Custom() {
		// As kube-apiserver: a custom resource has no patch strategy.
		return apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", rq.res.GroupResource(), rq.info.Name,
			"the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml", 0, false)
	}
	wr, err := s.readWrite(rq, &metav1.PatchOptions{})
	if err != nil {
		return err
	}
	if pt == types.ApplyYAMLPatchType {
		return s.serveApply(rq, wr)
	}
	patch, manager := wr.body, wr.manager
	if !json.Valid(patch) {
		return apierrors.NewBadRequest("the patch body is not valid JSON")
	}
	var warnings []string
	out, err := s.reg.Update(ctx, rq.res, rq.info.Namespace, rq.info.Name, func(cur runtime.Object) (runtime.Object, error) {
		curJSON, err := s.codecs.toJSON(cur)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		patched, err := applyPatch(pt, curJSON, patch, rq.res.New())
		if err != nil {
			return nil, err
		}
		obj, w, err := s.codecs.decodeObject(mediaJSON, patched, rq.res, wr.fieldValidation)
		if err != nil {
			return nil, err
		}
		warnings = w
		return s.trackUpdate(rq.res, rq.info.Subresource, cur, obj, manager), nil
	}, registry.UpdateOptions{Subresource: rq.info.Subresource, DryRun: wr.dryRun, Retry: true})
	if err != nil {
		return err
	}
	addWarnings(rq.w, warnings)
	s.respond(rq, http.StatusOK, out)
	return nil
}

// serveApply is server-side apply: create the object when missing, else
// merge the applied configuration with field ownership.
func (s *Server) serveApply(rq *request, wr writeRequest) error {
	ctx := rq.r.Context()
	if !wr.managerGiven {
		return apierrors.NewBadRequest("PATCH requests with the apply patch type must specify a fieldManager")
	}
	manager, force, dry := wr.manager, wr.force, wr.dryRun
	js, err := yamlToJSON(wr.body)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	// Strict checks and typed sanity first.
	if _, warnings, err := s.codecs.decodeObject(mediaJSON, js, rq.res, wr.fieldValidation); err != nil {
		return err
	} else {
		addWarnings(rq.w, warnings)
	}
	applied := &unstructured.Unstructured{}
	if err := applied.UnmarshalJSON(js); err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if applied.GetName() != "" && applied.GetName() != rq.info.Name {
		return apierrors.NewBadRequest("the name of the object (" + applied.GetName() + ") does not match the name on the URL (" + rq.info.Name + ")")
	}
	if rq.res.Namespaced && applied.GetNamespace() != "" && applied.GetNamespace() != rq.info.Namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	fm, err := s.fieldManager(rq.res, rq.info.Subresource)
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	out, err := s.reg.Update(ctx, rq.res, rq.info.Namespace, rq.info.Name, func(cur runtime.Object) (runtime.Object, error) {
		return fm.Apply(cur, applied.DeepCopy(), manager, force)
	}, registry.UpdateOptions{Subresource: rq.info.Subresource, DryRun: dry, Retry: true})
	if apierrors.IsNotFound(err) && rq.info.Subresource == "" {
		live := rq.res.New()
		lm, _ := meta.Accessor(live)
		lm.SetName(rq.info.Name)
		lm.SetNamespace(rq.info.Namespace)
		live.GetObjectKind().SetGroupVersionKind(rq.res.GroupVersionKind())
		obj, err := fm.Apply(live, applied, manager, force)
		if err != nil {
			return err
		}
		if err := s.setNamespace(rq, obj); err != nil {
			return err
		}
		om, _ := meta.Accessor(obj)
		om.SetName(rq.info.Name)
		if rq.res.Namespaced {
			if err := s.reg.CheckNamespace(ctx, rq.info.Namespace); err != nil {
				return err
			}
		}
		if err := s.reg.PrepareCreate(rq.res, obj); err != nil {
			return err
		}
		created, err := s.reg.Create(ctx, rq.res, obj, dry)
		if err != nil {
			return err
		}
		s.respond(rq, http.StatusCreated, created)
		return nil
	}
	if err != nil {
		return err
	}
	s.respond(rq, http.StatusOK, out)
	return nil
}
