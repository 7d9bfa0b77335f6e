package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/svcnet/svcnet/internal/registry"
)

func schemaGR(resource string) schema.GroupResource { return schema.GroupResource{Resource: resource} }

func notFoundPath() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource", Details: &metav1.StatusDetails{},
	}}
}

// request is one resource request being served.
type request struct {
	w    http.ResponseWriter
	r    *http.Request
	info RequestInfo
	res  *registry.Resource
	q    map[string][]string
	out  format
}

func (rq *request) param(name string) string {
	if v := rq.q[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info RequestInfo) {
	res, ok := s.reg.Resource(schema.GroupResource{Group: info.APIGroup, Resource: info.Resource})
	if !ok || res.GVR.Version != info.APIVersion {
		s.codecs.writeError(w, notFoundPath())
		return
	}
	if info.Namespace != "" && !res.Namespaced {
		s.codecs.writeError(w, notFoundPath())
		return
	}
	if info.Subresource != "" && !res.HasSubresource(info.Subresource) {
		s.codecs.writeError(w, notFoundPath())
		return
	}
	out, ok := negotiate(r.Header.Get("Accept"))
	if !ok && info.Subresource != "log" {
		s.codecs.writeError(w, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, info.Verb, res.GroupResource(), "",
			"the server was unable to respond with a content type that the client supports", 0, false))
		return
	}
	rq := &request{w: w, r: r, info: info, res: res, q: r.URL.Query(), out: out}
	var err error
	switch {
	case info.Subresource == "log":
		err = s.serveLog(rq)
	case info.Subresource == "scale":
		err = s.serveScale(rq)
	default:
		switch info.Verb {
		case "get":
			err = s.serveGet(rq)
		case "list":
			err = s.serveList(rq)
		case "watch":
			err = s.serveWatch(rq)
		case "create":
			err = s.serveCreate(rq)
		case "update":
			err = s.serveUpdate(rq)
		case "patch":
			err = s.servePatch(rq)
		case "delete":
			err = s.serveDelete(rq)
		case "deletecollection":
			err = s.serveDeleteCollection(rq)
		default:
			err = apierrors.NewMethodNotSupported(res.GroupResource(), info.Verb)
		}
	}
	if err != nil {
		s.codecs.writeError(w, err)
	}
}

// respond writes one object, as a Table when asked.
func (s *Server) respond(rq *request, code int, obj runtime.Object) {
	switch rq.out {
	case fmtTable:
		t := registry.ToTable(rq.res.Table, []runtime.Object{obj}, s.reg.Now(), rq.param("includeObject") != "None")
		m, _ := meta.Accessor(obj)
		t.ResourceVersion = m.GetResourceVersion()
		encodeRowObjects(t)
		s.codecs.writeObject(rq.w, fmtTable, code, t)
	case fmtMetadata:
		s.codecs.writeObject(rq.w, fmtJSON, code, partialMetadata(obj))
	default:
		s.codecs.writeObject(rq.w, rq.out, code, obj)
	}
}

func encodeRowObjects(t *metav1.Table) {
	for i := range t.Rows {
		if o := t.Rows[i].Object.Object; o != nil {
			b, _ := json.Marshal(o)
			t.Rows[i].Object = runtime.RawExtension{Raw: b}
		}
	}
}

func partialMetadata(obj runtime.Object) *metav1.PartialObjectMetadata {
	m, _ := meta.Accessor(obj)
	p := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1"}}
	om := meta.AsPartialObjectMetadata(m)
	p.ObjectMeta = om.ObjectMeta
	return p
}

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
	o := registry.ListOptions{Selector: sel, Continue: rq.param("continue"), Stored: rq.out == fmtProtobuf}
	if l := rq.param("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid limit %q", l))
		}
		o.Limit = n
	}
	if rv := rq.param("resourceVersion"); rv != "" && rq.param("resourceVersionMatch") == string(metav1.ResourceVersionMatchExact) {
		n, err := strconv.ParseInt(rv, 10, 64)
		if err != nil || n <= 0 {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rv))
		}
		o.Revision = n
	} else if rv != "" && rv != "0" {
		if _, err := strconv.ParseUint(rv, 10, 64); err != nil {
			return apierrors.NewBadRequest(fmt.Sprintf("invalid resourceVersion %q", rv))
		}
	}
	result, err := s.reg.List(rq.r.Context(), rq.res, rq.info.Namespace, o)
	if err != nil {
		return err
	}
	rv := strconv.FormatInt(result.Revision, 10)
	switch rq.out {
	case fmtTable:
		t := registry.ToTable(rq.res.Table, result.Items, s.reg.Now(), true)
		t.ResourceVersion, t.Continue, t.RemainingItemCount = rv, result.Continue, result.Remaining
		encodeRowObjects(t)
		s.codecs.writeObject(rq.w, fmtTable, http.StatusOK, t)
	case fmtMetadata:
		list := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{Kind: "PartialObjectMetadataList", APIVersion: "meta.k8s.io/v1"}}
		list.ResourceVersion, list.Continue, list.RemainingItemCount = rv, result.Continue, result.Remaining
		for _, obj := range result.Items {
			list.Items = append(list.Items, *partialMetadata(obj))
		}
		s.codecs.writeObject(rq.w, fmtJSON, http.StatusOK, list)
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

func (s *Server) dryRun(rq *request) (bool, error) {
	for _, v := range rq.q["dryRun"] {
		if v != metav1.DryRunAll {
			return false, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %q; the only valid value is %q", v, metav1.DryRunAll))
		}
		return true, nil
	}
	return false, nil
}

// fieldManagerName is the fieldManager parameter or one derived from the
// user agent, as Kubernetes does.
func fieldManagerName(rq *request) (string, error) {
	if m := rq.param("fieldManager"); m != "" {
		if len(m) > 128 {
			return "", apierrors.NewBadRequest("fieldManager may not be longer than 128 characters")
		}
		return m, nil
	}
	ua := rq.r.Header.Get("User-Agent")
	if i := strings.Index(ua, "/"); i >= 0 {
		ua = ua[:i]
	}
	if ua == "" {
		ua = "unknown"
	}
	return ua, nil
}

func (s *Server) typeConverter() managedfields.TypeConverter {
	s.tcOnce.Do(func() { s.tc = applyconfigurations.NewTypeConverter(scheme.Scheme) })
	return s.tc
}

type defaulter struct{ res *registry.Resource }

func (d defaulter) Default(obj runtime.Object) {
	if d.res.Default != nil {
		if _, ok := obj.(*unstructured.Unstructured); !ok {
			d.res.Default(obj)
		}
	}
}

// fieldManager tracks managedFields for a resource (or its status).
func (s *Server) fieldManager(res *registry.Resource, sub string) (*managedfields.FieldManager, error) {
	s.fmMu.Lock()
	defer s.fmMu.Unlock()
	key := fmKey{res.GroupResource(), sub}
	if fm, ok := s.fms[key]; ok {
		return fm, nil
	}
	fm, err := managedfields.NewDefaultFieldManager(s.typeConverter(), scheme.Scheme, defaulter{res}, scheme.Scheme,
		res.GroupVersionKind(), res.GVR.GroupVersion(), sub, resetFields(res, sub))
	if err != nil {
		return nil, err
	}
	s.fms[key] = fm
	return fm, nil
}

func (s *Server) trackUpdate(res *registry.Resource, sub string, live, obj runtime.Object, manager string) runtime.Object {
	fm, err := s.fieldManager(res, sub)
	if err != nil {
		s.log.Warn("field manager unavailable", "resource", res.GVR.Resource, "err", err)
		return obj
	}
	return fm.UpdateNoErrors(live, obj, manager)
}

func (s *Server) serveCreate(rq *request) error {
	if rq.info.Subresource != "" {
		return apierrors.NewMethodNotSupported(rq.res.GroupResource(), "create")
	}
	ctx := rq.r.Context()
	fv, err := parseFieldValidation(rq.param("fieldValidation"))
	if err != nil {
		return err
	}
	dry, err := s.dryRun(rq)
	if err != nil {
		return err
	}
	manager, err := fieldManagerName(rq)
	if err != nil {
		return err
	}
	data, err := readBody(rq.r)
	if err != nil {
		return err
	}
	obj, warnings, err := s.codecs.decodeObject(rq.r.Header.Get("Content-Type"), data, rq.res, fv)
	if err != nil {
		return err
	}
	if err := s.setNamespace(rq, obj); err != nil {
		return err
	}
	if rq.info.Name != "" {
		return apierrors.NewMethodNotSupported(rq.res.GroupResource(), "create")
	}
	created, err := s.create(ctx, rq, obj, manager, dry)
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
	if rq.res.Namespaced {
		if err := s.reg.CheckNamespace(ctx, m.GetNamespace()); err != nil {
			return nil, err
		}
	}
	if err := s.reg.PrepareCreate(rq.res, obj); err != nil {
		return nil, err
	}
	obj = s.trackUpdate(rq.res, "", rq.res.New(), obj, manager)
	return s.reg.Create(ctx, rq.res, obj, dry)
}

// setNamespace checks and fills the object's namespace from the URL.
func (s *Server) setNamespace(rq *request, obj runtime.Object) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if !rq.res.Namespaced {
		m.SetNamespace("")
		return nil
	}
	if rq.info.Namespace == "" {
		return apierrors.NewBadRequest("the namespace of the object must be given in the request path")
	}
	if ns := m.GetNamespace(); ns != "" && ns != rq.info.Namespace {
		return apierrors.NewBadRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	m.SetNamespace(rq.info.Namespace)
	return nil
}

func (s *Server) serveUpdate(rq *request) error {
	ctx := rq.r.Context()
	fv, err := parseFieldValidation(rq.param("fieldValidation"))
	if err != nil {
		return err
	}
	dry, err := s.dryRun(rq)
	if err != nil {
		return err
	}
	manager, err := fieldManagerName(rq)
	if err != nil {
		return err
	}
	data, err := readBody(rq.r)
	if err != nil {
		return err
	}
	obj, warnings, err := s.codecs.decodeObject(rq.r.Header.Get("Content-Type"), data, rq.res, fv)
	if err != nil {
		return err
	}
	if err := s.setNamespace(rq, obj); err != nil {
		return err
	}
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
	fv, err := parseFieldValidation(rq.param("fieldValidation"))
	if err != nil {
		return err
	}
	dry, err := s.dryRun(rq)
	if err != nil {
		return err
	}
	manager, err := fieldManagerName(rq)
	if err != nil {
		return err
	}
	patch, err := readBody(rq.r)
	if err != nil {
		return err
	}
	if pt == types.ApplyYAMLPatchType {
		return s.serveApply(rq, patch, manager, fv, dry)
	}
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
		obj, w, err := s.codecs.decodeObject(mediaJSON, patched, rq.res, fv)
		if err != nil {
			return nil, err
		}
		warnings = w
		return s.trackUpdate(rq.res, rq.info.Subresource, cur, obj, manager), nil
	}, registry.UpdateOptions{Subresource: rq.info.Subresource, DryRun: dry, Retry: true})
	if err != nil {
		return err
	}
	addWarnings(rq.w, warnings)
	s.respond(rq, http.StatusOK, out)
	return nil
}

// serveApply is server-side apply: create the object when missing, else
// merge the applied configuration with field ownership.
func (s *Server) serveApply(rq *request, body []byte, manager string, fv fieldValidation, dry bool) error {
	ctx := rq.r.Context()
	if rq.param("fieldManager") == "" {
		return apierrors.NewBadRequest("PATCH requests with the apply patch type must specify a fieldManager")
	}
	force := rq.param("force") == "true"
	js, err := yamlToJSON(body)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("error decoding YAML: %v", err))
	}
	// Strict checks and typed sanity first.
	if _, warnings, err := s.codecs.decodeObject(mediaJSON, js, rq.res, fv); err != nil {
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

func (s *Server) deleteOptions(rq *request) (registry.DeleteOptions, error) {
	var opts metav1.DeleteOptions
	data, err := readBody(rq.r)
	if err != nil {
		return registry.DeleteOptions{}, err
	}
	if len(strings.TrimSpace(string(data))) > 0 {
		ct := rq.r.Header.Get("Content-Type")
		if err := s.codecs.decodeInto(ct, data, &opts); err != nil {
			return registry.DeleteOptions{}, apierrors.NewBadRequest(fmt.Sprintf("invalid DeleteOptions: %v", err))
		}
	}
	if v := rq.param("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return registry.DeleteOptions{}, apierrors.NewBadRequest("invalid gracePeriodSeconds")
		}
		opts.GracePeriodSeconds = &n
	}
	if v := rq.param("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := rq.param("orphanDependents"); v != "" {
		b := v == "true"
		opts.OrphanDependents = &b
	}
	dry, err := s.dryRun(rq)
	if err != nil {
		return registry.DeleteOptions{}, err
	}
	for _, v := range opts.DryRun {
		if v != metav1.DryRunAll {
			return registry.DeleteOptions{}, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %q", v))
		}
		dry = true
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
		if out == fmtTable || out == fmtMetadata {
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
	dry, err := s.dryRun(rq)
	if err != nil {
		return err
	}
	body, err := readBody(rq.r)
	if err != nil {
		return err
	}
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

// serveLog streams a container's log through the node agent.
func (s *Server) serveLog(rq *request) error {
	ctx := rq.r.Context()
	obj, err := s.reg.Get(ctx, rq.res, rq.info.Namespace, rq.info.Name)
	if err != nil {
		return err
	}
	containers, err := podContainers(obj)
	if err != nil {
		return err
	}
	c := rq.param("container")
	if c == "" {
		if len(containers) != 1 {
			return apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %v", rq.info.Name, containers))
		}
		c = containers[0]
	} else if !contains(containers, c) {
		return apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", c, rq.info.Name))
	}
	opts := LogOptions{Follow: rq.param("follow") == "true", Previous: rq.param("previous") == "true", Timestamps: rq.param("timestamps") == "true"}
	if v := rq.param("tailLines"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return apierrors.NewBadRequest("invalid tailLines")
		}
		opts.TailLines = &n
	}
	if v := rq.param("limitBytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return apierrors.NewBadRequest("invalid limitBytes")
		}
		opts.LimitBytes = &n
	}
	if s.cfg.Logs == nil {
		return apierrors.NewBadRequest(fmt.Sprintf("container %q in pod %q has no log source: no node agent serves this pod", c, rq.info.Name))
	}
	rq.w.Header().Set("Content-Type", "text/plain")
	fw := &flushWriter{w: rq.w}
	return s.cfg.Logs.Logs(ctx, rq.info.Namespace, rq.info.Name, c, opts, fw)
}

type flushWriter struct {
	w       http.ResponseWriter
	started bool
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.started = true
	return f.w.Write(p)
}

func (f *flushWriter) Flush() {
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
