package apiserver

import (
	"net/http"
	"strings"

	"github.com/svcnet/svcnet/internal/openapi"
	"github.com/svcnet/svcnet/internal/registry"
)

func (s *Server) serveOpenAPIv3(w http.ResponseWriter, r *http.Request) {
	docs := s.openapi.Load()
	key := strings.Trim(strings.TrimPrefix(r.URL.Path, "/openapi/v3"), "/")
	if key == "" {
		w.Header().Set("Content-Type", mediaJSON)
		_, _ = w.Write(docs.V3Root)
		return
	}
	doc, ok := docs.V3[key]
	if !ok {
		s.codecs.writeError(w, notFoundPath())
		return
	}
	if h := r.URL.Query().Get("hash"); h != "" && h == docs.V3Hash[key] {
		w.Header().Set("Cache-Control", "public, immutable")
	}
	w.Header().Set("Etag", `"`+docs.V3Hash[key]+`"`)
	w.Header().Set("Content-Type", mediaJSON)
	_, _ = w.Write(doc)
}

func (s *Server) serveOpenAPIv2(w http.ResponseWriter, r *http.Request) {
	docs := s.openapi.Load()
	accept := r.Header.Get("Accept")
	if strings.Contains(accept, "protobuf") {
		w.Header().Set("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
		_, _ = w.Write(docs.V2Proto)
		return
	}
	w.Header().Set("Content-Type", mediaJSON)
	_, _ = w.Write(docs.V2JSON)
}

// ResourcesChanged rebuilds the OpenAPI documents after the served
// resources changed (a custom resource definition came or went); discovery
// reads the registry on every request.
func (s *Server) ResourcesChanged(customV3 map[string][]byte, customV2 []byte) {
	s.openapiMu.Lock()
	defer s.openapiMu.Unlock()
	docs, err := openapi.Build(s.reg.Resources(), customV3, customV2)
	if err != nil {
		s.log.Error("openapi documents not rebuilt", "err", err)
		return
	}
	s.openapi.Store(docs)
	// Field managers of custom resources no longer served go too.
	served := map[*registry.Resource]bool{}
	for _, r := range s.reg.Resources() {
		served[r] = true
	}
	s.fmMu.Lock()
	for k := range s.fms {
		if k.res.Custom() && !served[k.res] {
			delete(s.fms, k)
		}
	}
	s.fmMu.Unlock()
}
