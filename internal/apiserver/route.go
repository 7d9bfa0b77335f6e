package apiserver

import (
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/svcnet/svcnet/internal/registry"
)

// route dispatches every request.
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	info, err := ParseRequestInfo(r.Method, p, r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1")
	if err != nil {
		s.codecs.writeError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	// Non-resource paths (discovery, OpenAPI, /metrics) are authorized
	// here, for authenticated callers (the anonymous reach only the public
	// ones); resource requests below.
	if u := userFrom(r.Context()); !info.IsResource && u.Name != "" {
		if _, isNode := nodeOf(u); !isNode || u.IsAdmin() {
			if err := s.authorize(r.Context(), u, info, r.Method); err != nil {
				s.codecs.writeError(w, err)
				return
			}
		}
	}
	switch {
	case p == "/version" || p == "/version/":
		s.serveVersion(w)
		return
	case p == "/healthz" || p == "/livez":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
		return
	case p == "/readyz":
		s.serveReadyz(w, r)
		return
	case p == "/metrics" && s.cfg.Metrics != nil:
		s.cfg.Metrics.ServeHTTP(w, r)
		return
	case p == "/api" || p == "/api/":
		s.serveDiscoveryRoot(w, r, true)
		return
	case p == "/apis" || p == "/apis/":
		s.serveDiscoveryRoot(w, r, false)
		return
	case p == "/openapi/v2" || p == "/swagger-2.0.0.pb-v1":
		s.serveOpenAPIv2(w, r)
		return
	case p == "/openapi/v3" || strings.HasPrefix(p, "/openapi/v3/"):
		s.serveOpenAPIv3(w, r)
		return
	}
	if s.serveDiscoveryPath(w, r) {
		return
	}
	if !info.IsResource {
		s.codecs.writeError(w, apierrors.NewNotFound(schemaGR(""), ""))
		return
	}
	u := userFrom(r.Context())
	var authz error
	if node, ok := nodeOf(u); ok && !u.IsAdmin() {
		authz = s.authorizeNode(r.Context(), node, u, info)
	} else {
		authz = s.authorize(r.Context(), u, info, r.Method)
	}
	if authz != nil {
		s.codecs.writeError(w, authz)
		return
	}
	s.serveResource(w, r, info)
}

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info RequestInfo) {
	res, ok := s.reg.ResourceVersion(schema.GroupVersionResource{Group: info.APIGroup, Version: info.APIVersion, Resource: info.Resource})
	if !ok {
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
	if res.Custom() && (out == fmtProtobuf) {
		// Custom resources have no protobuf encoding: the client's next choice.
		out, ok = negotiateWithout(r.Header.Get("Accept"), mediaProtobuf)
	}
	if !ok && info.Subresource != "log" && info.Subresource != "attach" && info.Subresource != "exec" && info.Subresource != "portforward" {
		s.codecs.writeError(w, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, info.Verb, res.GroupResource(), "",
			"the server was unable to respond with a content type that the client supports", 0, false))
		return
	}
	rq := &request{w: w, r: r, info: info, res: res, q: r.URL.Query(), out: out}
	var err error
	switch {
	case res.Review:
		err = s.serveReview(rq)
	case info.Subresource == "log":
		err = s.serveLog(rq)
	case info.Subresource == "attach" || info.Subresource == "exec" || info.Subresource == "portforward":
		err = s.serveStream(rq)
	case info.Subresource == "scale":
		err = s.serveScale(rq)
	case info.Subresource == "eviction":
		err = s.serveEviction(rq)
	case info.Subresource == "token":
		err = s.serveTokenRequest(rq)
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

func notFoundPath() error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource", Details: &metav1.StatusDetails{},
	}}
}

func schemaGR(resource string) schema.GroupResource { return schema.GroupResource{Resource: resource} }
