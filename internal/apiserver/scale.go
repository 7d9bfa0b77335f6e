package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"

	"github.com/svcnet/svcnet/internal/registry"
)

// serveScale serves the autoscaling/v1 Scale subresource.
func (s *Server) serveScale(rq *request) error {
	ctx := rq.r.Context()
	res := rq.res
	toScale := func(obj runtime.Object) *autoscalingv1.Scale {
		spec, status, sel, _ := res.ScaleOf(obj)
		m, _ := meta.Accessor(obj)
		return &autoscalingv1.Scale{
			TypeMeta: metav1.TypeMeta{Kind: "Scale", APIVersion: "autoscaling/v1"},
			ObjectMeta: metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
				ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp()},
			Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
			Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: sel},
		}
	}
	writeScale := func(obj runtime.Object) {
		out := rq.out
		if out == fmtTable || isMetadata(out) {
			out = fmtJSON
		}
		s.codecs.writeObject(rq.w, out, http.StatusOK, toScale(obj))
	}
	switch rq.info.Verb {
	case "get":
		obj, err := s.reg.Get(ctx, res, rq.info.Namespace, rq.info.Name)
		if err != nil {
			return err
		}
		writeScale(obj)
		return nil
	case "update", "patch":
	default:
		return apierrors.NewMethodNotSupported(schema.GroupResource{Group: res.GVR.Group, Resource: res.GVR.Resource + "/scale"}, rq.info.Verb)
	}
	var opts runtime.Object = &metav1.UpdateOptions{}
	if rq.info.Verb == "patch" {
		opts = &metav1.PatchOptions{}
	}
	wr, err := s.readWrite(rq, opts)
	if err != nil {
		return err
	}
	body, dry := wr.body, wr.dryRun
	var pt types.PatchType
	if rq.info.Verb == "patch" {
		if pt, err = patchType(rq.r.Header.Get("Content-Type")); err != nil {
			return err
		}
		if pt == types.ApplyYAMLPatchType {
			if body, err = yamlToJSON(body); err != nil {
				return apierrors.NewBadRequest(err.Error())
			}
			pt = types.MergePatchType
		}
	}
	out, err := s.reg.Update(ctx, res, rq.info.Namespace, rq.info.Name, func(cur runtime.Object) (runtime.Object, error) {
		sc := toScale(cur)
		var want autoscalingv1.Scale
		if pt != "" {
			curJSON, _ := json.Marshal(sc)
			patched, err := applyPatch(pt, curJSON, body, &autoscalingv1.Scale{})
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(patched, &want); err != nil {
				return nil, apierrors.NewBadRequest(err.Error())
			}
		} else {
			if err := s.codecs.decodeInto(rq.r.Header.Get("Content-Type"), body, &want); err != nil {
				return nil, apierrors.NewBadRequest(fmt.Sprintf("invalid Scale: %v", err))
			}
			if want.ResourceVersion != "" && want.ResourceVersion != sc.ResourceVersion {
				return nil, apierrors.NewConflict(res.GroupResource(), rq.info.Name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
			}
		}
		if want.Spec.Replicas < 0 {
			return nil, apierrors.NewInvalid(schema.GroupKind{Group: "autoscaling", Kind: "Scale"}, rq.info.Name,
				fieldErrorList("spec.replicas", fmt.Sprintf("Invalid value: %d: must be greater than or equal to 0", want.Spec.Replicas)))
		}
		res.Scale.Set(cur, want.Spec.Replicas)
		return cur, nil
	}, registry.UpdateOptions{DryRun: dry, Retry: pt != ""})
	if err != nil {
		return err
	}
	writeScale(out)
	return nil
}
