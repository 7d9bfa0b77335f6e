package apiserver

import (
	"encoding/json"
	"mime"
	"net/http"
	"runtime"
	"sort"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	apidiscoveryv2beta1 "k8s.io/api/apidiscovery/v2beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/version"

	"github.com/svcnet/svcnet/internal/registry"
)

// groupVersions lists the served API group versions: the core group ("")
// first, then the named groups in registration order.
func (s *Server) groupVersions() []metav1.GroupVersion {
	seen := map[metav1.GroupVersion]bool{}
	var out []metav1.GroupVersion
	for _, res := range s.reg.Resources() {
		gv := metav1.GroupVersion{Group: res.GVR.Group, Version: res.GVR.Version}
		if !seen[gv] {
			seen[gv] = true
			out = append(out, gv)
		}
	}
	// The core group first; a group's versions together, the preferred
	// (highest by Kubernetes' version order) first.
	first := map[string]int{}
	for i, gv := range out {
		if _, ok := first[gv.Group]; !ok {
			first[gv.Group] = i
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Group == "") != (b.Group == "") {
			return a.Group == ""
		}
		if a.Group != b.Group {
			return first[a.Group] < first[b.Group]
		}
		return version.CompareKubeAwareVersionStrings(a.Version, b.Version) > 0
	})
	return out
}

func (s *Server) resourcesOf(gv metav1.GroupVersion) []*registry.Resource {
	var out []*registry.Resource
	for _, res := range s.reg.Resources() {
		if res.GVR.Group == gv.Group && res.GVR.Version == gv.Version {
			out = append(out, res)
		}
	}
	return out
}

// aggregatedVersion returns the aggregated discovery version the client
// asks for ("v2", "v2beta1"), or "".
func aggregatedVersion(accept string) string {
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || mt != mediaJSON {
			continue
		}
		if params["g"] == "apidiscovery.k8s.io" && params["as"] == "APIGroupDiscoveryList" && (params["v"] == "v2" || params["v"] == "v2beta1") {
			return params["v"]
		}
		if params["as"] == "" {
			return "" // plain JSON preferred first
		}
	}
	return ""
}

func subresourceKind(res *registry.Resource, sub string) (metav1.GroupVersionKind, []string) {
	switch sub {
	case "scale":
		return metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"}, []string{"get", "patch", "update"}
	case "log":
		return metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, []string{"get"}
	case "attach":
		return metav1.GroupVersionKind{Version: "v1", Kind: "PodAttachOptions"}, []string{"create", "get"}
	case "exec":
		return metav1.GroupVersionKind{Version: "v1", Kind: "PodExecOptions"}, []string{"create", "get"}
	case "portforward":
		return metav1.GroupVersionKind{Version: "v1", Kind: "PodPortForwardOptions"}, []string{"create", "get"}
	case "eviction":
		return metav1.GroupVersionKind{Group: "policy", Version: "v1", Kind: "Eviction"}, []string{"create"}
	case "token":
		return metav1.GroupVersionKind{Group: "authentication.k8s.io", Version: "v1", Kind: "TokenRequest"}, []string{"create"}
	}
	return metav1.GroupVersionKind{Group: res.GVR.Group, Version: res.GVR.Version, Kind: res.Kind}, []string{"get", "patch", "update"}
}

func (s *Server) aggregated(core bool) apidiscoveryv2.APIGroupDiscoveryList {
	list := apidiscoveryv2.APIGroupDiscoveryList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: "apidiscovery.k8s.io/v2"}}
	for _, gv := range s.groupVersions() {
		if (gv.Group == "") != core {
			continue
		}
		var resources []apidiscoveryv2.APIResourceDiscovery
		for _, res := range s.resourcesOf(gv) {
			scope := apidiscoveryv2.ScopeCluster
			if res.Namespaced {
				scope = apidiscoveryv2.ScopeNamespace
			}
			d := apidiscoveryv2.APIResourceDiscovery{
				Resource:         res.GVR.Resource,
				ResponseKind:     &metav1.GroupVersionKind{Group: res.GVR.Group, Version: res.GVR.Version, Kind: res.Kind},
				Scope:            scope,
				SingularResource: res.Singular,
				Verbs:            res.Verbs(),
				ShortNames:       res.ShortNames,
				Categories:       res.Categories,
			}
			for _, sub := range res.Subresources {
				kind, verbs := subresourceKind(res, sub)
				d.Subresources = append(d.Subresources, apidiscoveryv2.APISubresourceDiscovery{Subresource: sub, ResponseKind: &kind, Verbs: verbs})
			}
			resources = append(resources, d)
		}
		v := apidiscoveryv2.APIVersionDiscovery{Version: gv.Version, Resources: resources, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent}
		if n := len(list.Items); n > 0 && list.Items[n-1].Name == gv.Group {
			list.Items[n-1].Versions = append(list.Items[n-1].Versions, v)
			continue
		}
		list.Items = append(list.Items, apidiscoveryv2.APIGroupDiscovery{
			ObjectMeta: metav1.ObjectMeta{Name: gv.Group},
			Versions:   []apidiscoveryv2.APIVersionDiscovery{v},
		})
	}
	return list
}

// serveDiscoveryRoot answers /api and /apis.
func (s *Server) serveDiscoveryRoot(w http.ResponseWriter, r *http.Request, core bool) {
	if v := aggregatedVersion(r.Header.Get("Accept")); v != "" {
		list := s.aggregated(core)
		var body any = list
		if v == "v2beta1" {
			// Same shape, other apiVersion.
			b, _ := json.Marshal(list)
			var beta apidiscoveryv2beta1.APIGroupDiscoveryList
			_ = json.Unmarshal(b, &beta)
			beta.APIVersion = "apidiscovery.k8s.io/v2beta1"
			body = beta
		}
		w.Header().Set("Vary", "Accept")
		writeJSON(w, mediaJSON+";g=apidiscovery.k8s.io;v="+v+";as=APIGroupDiscoveryList", body)
		return
	}
	if core {
		writeJSON(w, mediaJSON, &metav1.APIVersions{
			TypeMeta:                   metav1.TypeMeta{Kind: "APIVersions"},
			Versions:                   []string{"v1"},
			ServerAddressByClientCIDRs: []metav1.ServerAddressByClientCIDR{{ClientCIDR: "0.0.0.0/0", ServerAddress: r.Host}},
		})
		return
	}
	list := metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList", APIVersion: "v1"}}
	for _, gv := range s.groupVersions() {
		if gv.Group == "" {
			continue
		}
		list.Groups = append(list.Groups, s.apiGroup(gv.Group))
	}
	writeJSON(w, mediaJSON, &list)
}

func (s *Server) apiGroup(group string) metav1.APIGroup {
	g := metav1.APIGroup{TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"}, Name: group}
	for _, gv := range s.groupVersions() {
		if gv.Group == group {
			v := metav1.GroupVersionForDiscovery{GroupVersion: gv.Group + "/" + gv.Version, Version: gv.Version}
			g.Versions = append(g.Versions, v)
			if g.PreferredVersion.Version == "" {
				g.PreferredVersion = v
			}
		}
	}
	return g
}

// serveDiscoveryGroup answers /apis/{group}, /api/v1 and /apis/{group}/{version}.
func (s *Server) serveDiscoveryPath(w http.ResponseWriter, r *http.Request) bool {
	parts := splitPath(r.URL.Path)
	switch {
	case len(parts) == 2 && parts[0] == "apis":
		g := s.apiGroup(parts[1])
		if len(g.Versions) == 0 {
			return false
		}
		writeJSON(w, mediaJSON, &g)
		return true
	case len(parts) == 2 && parts[0] == "api" && parts[1] == "v1":
		return s.writeResourceList(w, metav1.GroupVersion{Version: "v1"})
	case len(parts) == 3 && parts[0] == "apis":
		return s.writeResourceList(w, metav1.GroupVersion{Group: parts[1], Version: parts[2]})
	}
	return false
}

func (s *Server) writeResourceList(w http.ResponseWriter, gv metav1.GroupVersion) bool {
	resources := s.resourcesOf(gv)
	if len(resources) == 0 {
		return false
	}
	list := metav1.APIResourceList{TypeMeta: metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"}, GroupVersion: gv.String()}
	for _, res := range resources {
		list.APIResources = append(list.APIResources, metav1.APIResource{
			Name: res.GVR.Resource, SingularName: res.Singular, Namespaced: res.Namespaced, Kind: res.Kind,
			Verbs: res.Verbs(), ShortNames: res.ShortNames, Categories: res.Categories,
		})
		for _, sub := range res.Subresources {
			kind, verbs := subresourceKind(res, sub)
			list.APIResources = append(list.APIResources, metav1.APIResource{
				Name: res.GVR.Resource + "/" + sub, Namespaced: res.Namespaced, Kind: kind.Kind, Group: kind.Group, Version: kind.Version, Verbs: verbs,
			})
		}
	}
	writeJSON(w, mediaJSON, &list)
	return true
}

func writeJSON(w http.ResponseWriter, ct string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ct)
	_, _ = w.Write(b)
}

func (s *Server) serveVersion(w http.ResponseWriter) {
	v := Version
	v.GoVersion = runtime.Version()
	v.Compiler = runtime.Compiler
	v.Platform = runtime.GOOS + "/" + runtime.GOARCH
	v.GitTreeState = "clean"
	v.BuildDate = "2026-11-26T00:00:00Z"
	writeJSON(w, mediaJSON, &v)
}
