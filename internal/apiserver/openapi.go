package apiserver

import (
	"net/http"
	"strings"
)

func (s *Server) serveOpenAPIv3(w http.ResponseWriter, r *http.Request) {
	key := strings.Trim(strings.TrimPrefix(r.URL.Path, "/openapi/v3"), "/")
	if key == "" {
		w.Header().Set("Content-Type", mediaJSON)
		_, _ = w.Write(s.openapi.V3Root)
		return
	}
	doc, ok := s.openapi.V3[key]
	if !ok {
		s.codecs.writeError(w, notFoundPath())
		return
	}
	if h := r.URL.Query().Get("hash"); h != "" && h == s.openapi.V3Hash[key] {
		w.Header().Set("Cache-Control", "public, immutable")
	}
	w.Header().Set("Etag", `"`+s.openapi.V3Hash[key]+`"`)
	w.Header().Set("Content-Type", mediaJSON)
	_, _ = w.Write(doc)
}

func (s *Server) serveOpenAPIv2(w http.ResponseWriter, r *http.Request) {
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "protobuf") {
		w.Header().Set("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
		_, _ = w.Write(s.openapi.V2Proto)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	_, _ = w.Write(s.openapi.V2JSON)
}
