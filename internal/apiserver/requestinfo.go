package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	"k8s.io/apimachinery/pkg/api/validation/path"
)

// RequestInfo is what a resource request path and method say.
type RequestInfo struct {
	// IsResource is false for discovery, /version, /openapi and health paths.
	IsResource  bool
	Verb        string // get list watch create update patch delete deletecollection
	APIGroup    string
	APIVersion  string
	Namespace   string
	Resource    string
	Name        string
	Subresource string
	// Path is the request path, for non-resource requests.
	Path string
}

// ParseRequestInfo reads a request's path and method. Unknown shapes are
// non-resource requests; malformed names are errors.
func ParseRequestInfo(method, urlPath string, watchParam bool) (RequestInfo, error) {
	info := RequestInfo{Path: urlPath}
	parts := splitPath(urlPath)
	if len(parts) == 0 {
		return info, nil
	}
	switch parts[0] {
	case "api":
		if len(parts) < 3 {
			return info, nil
		}
		info.APIVersion = parts[1]
		parts = parts[2:]
	case "apis":
		if len(parts) < 4 {
			return info, nil
		}
		info.APIGroup, info.APIVersion = parts[1], parts[2]
		parts = parts[3:]
	default:
		return info, nil
	}
	info.IsResource = true
	// namespaces/{ns}/{resource}/... but not namespaces/{name}[/status|finalize]
	if parts[0] == "namespaces" && len(parts) >= 3 && parts[2] != "status" && parts[2] != "finalize" {
		info.Namespace = parts[1]
		parts = parts[2:]
	} else if parts[0] == "namespaces" && len(parts) >= 2 {
		// the namespace object itself
		info.Namespace = ""
	}
	info.Resource = parts[0]
	if len(parts) > 1 {
		info.Name = parts[1]
	}
	if len(parts) > 2 {
		info.Subresource = parts[2]
	}
	if len(parts) > 3 {
		return info, fmt.Errorf("unsupported path %q", urlPath)
	}
	for _, s := range []string{info.Namespace, info.Name} {
		if s == "" {
			continue
		}
		if msgs := path.IsValidPathSegmentName(s); len(msgs) > 0 {
			return info, fmt.Errorf("invalid name %q: %s", s, strings.Join(msgs, ", "))
		}
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		switch {
		case watchParam:
			info.Verb = "watch"
		case info.Name == "":
			info.Verb = "list"
		default:
			info.Verb = "get"
		}
	case http.MethodPost:
		info.Verb = "create"
	case http.MethodPut:
		info.Verb = "update"
	case http.MethodPatch:
		info.Verb = "patch"
	case http.MethodDelete:
		info.Verb = "delete"
		if info.Name == "" {
			info.Verb = "deletecollection"
		}
	default:
		return info, fmt.Errorf("method %s is not supported", method)
	}
	return info, nil
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}
