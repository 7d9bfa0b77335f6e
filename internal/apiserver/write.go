package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/svcnet/svcnet/internal/kube"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// writeRequest is what every write verb reads before it acts: its query
// options, decoded by the parameter codec into Kubernetes' own options type
// for the verb and checked as kube-apiserver checks them, and its body.
type writeRequest struct {
	dryRun          bool
	fieldValidation fieldValidation
	// manager is the fieldManager parameter, or a name derived from the
	// User-Agent when none is given (managerGiven false).
	manager      string
	managerGiven bool
	// force is PatchOptions.Force (server-side apply).
	force bool
	body  []byte
}

// readWrite reads a write request; opts is a *metav1.CreateOptions,
// *metav1.UpdateOptions or *metav1.PatchOptions.
func (s *Server) readWrite(rq *request, opts runtime.Object) (writeRequest, error) {
	if err := kube.DecodeQuery(rq.r.URL.Query(), opts); err != nil {
		return writeRequest{}, apierrors.NewBadRequest(err.Error())
	}
	var dryRun []string
	var wr writeRequest
	var fv string
	switch o := opts.(type) {
	case *metav1.CreateOptions:
		dryRun, wr.manager, fv = o.DryRun, o.FieldManager, o.FieldValidation
	case *metav1.UpdateOptions:
		dryRun, wr.manager, fv = o.DryRun, o.FieldManager, o.FieldValidation
	case *metav1.PatchOptions:
		dryRun, wr.manager, fv = o.DryRun, o.FieldManager, o.FieldValidation
		wr.force = o.Force != nil && *o.Force
	default:
		return writeRequest{}, apierrors.NewInternalError(fmt.Errorf("no write options of type %T", opts))
	}
	var err error
	if wr.dryRun, err = checkDryRun(dryRun); err != nil {
		return writeRequest{}, err
	}
	if wr.fieldValidation, err = parseFieldValidation(fv); err != nil {
		return writeRequest{}, err
	}
	if wr.managerGiven = wr.manager != ""; wr.managerGiven {
		if len(wr.manager) > 128 {
			return writeRequest{}, apierrors.NewBadRequest("fieldManager may not be longer than 128 characters")
		}
	} else {
		wr.manager = managerFromUserAgent(rq.r.Header.Get("User-Agent"))
	}
	if wr.body, err = readBody(rq.r); err != nil {
		return writeRequest{}, err
	}
	return wr, nil
}

// checkDryRun: the only dry-run value Kubernetes knows is All.
func checkDryRun(values []string) (bool, error) {
	for _, v := range values {
		if v != metav1.DryRunAll {
			return false, apierrors.NewBadRequest(fmt.Sprintf("Invalid dry run value: %q; the only valid value is %q", v, metav1.DryRunAll))
		}
	}
	return len(values) > 0, nil
}

// managerFromUserAgent is the field manager of a writer that names none,
// as Kubernetes derives it: the User-Agent up to its first "/".
func managerFromUserAgent(ua string) string {
	if i := strings.Index(ua, "/"); i >= 0 {
		ua = ua[:i]
	}
	if ua == "" {
		ua = "unknown"
	}
	return ua
}

// bodyObject decodes the body of a create or update into an object of the
// URL's resource in the URL's namespace, with the decoder's warnings.
func (s *Server) bodyObject(rq *request, wr writeRequest) (runtime.Object, []string, error) {
	ct := rq.r.Header.Get("Content-Type")
	if ct == "" { // kube-apiserver does not guess
		return nil, nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, rq.info.Verb, rq.res.GroupResource(), "",
			"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf", 0, false)
	}
	obj, warnings, err := s.codecs.decodeObject(ct, wr.body, rq.res, wr.fieldValidation)
	if err != nil {
		return nil, nil, err
	}
	if err := s.setNamespace(rq, obj); err != nil {
		return nil, nil, err
	}
	return obj, warnings, nil
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
