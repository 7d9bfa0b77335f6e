package apiserver

import (
	"testing"
)

func TestParseRequestInfo(t *testing.T) {
	cases := []struct {
		name, method, path string
		watch              bool
		want               RequestInfo
		wantErr            bool
	}{
		{"list pods in ns", "GET", "/api/v1/namespaces/default/pods", false,
			RequestInfo{IsResource: true, Verb: "list", APIVersion: "v1", Namespace: "default", Resource: "pods"}, false},
		{"get pod", "GET", "/api/v1/namespaces/default/pods/web-1", false,
			RequestInfo{IsResource: true, Verb: "get", APIVersion: "v1", Namespace: "default", Resource: "pods", Name: "web-1"}, false},
		{"pod log", "GET", "/api/v1/namespaces/default/pods/web-1/log", false,
			RequestInfo{IsResource: true, Verb: "get", APIVersion: "v1", Namespace: "default", Resource: "pods", Name: "web-1", Subresource: "log"}, false},
		{"watch all pods", "GET", "/api/v1/pods", true,
			RequestInfo{IsResource: true, Verb: "watch", APIVersion: "v1", Resource: "pods"}, false},
		{"namespace object", "GET", "/api/v1/namespaces/default", false,
			RequestInfo{IsResource: true, Verb: "get", APIVersion: "v1", Resource: "namespaces", Name: "default"}, false},
		{"namespace status", "PUT", "/api/v1/namespaces/default/status", false,
			RequestInfo{IsResource: true, Verb: "update", APIVersion: "v1", Resource: "namespaces", Name: "default", Subresource: "status"}, false},
		{"list namespaces", "GET", "/api/v1/namespaces", false,
			RequestInfo{IsResource: true, Verb: "list", APIVersion: "v1", Resource: "namespaces"}, false},
		{"create deployment", "POST", "/apis/apps/v1/namespaces/ns/deployments", false,
			RequestInfo{IsResource: true, Verb: "create", APIGroup: "apps", APIVersion: "v1", Namespace: "ns", Resource: "deployments"}, false},
		{"scale patch", "PATCH", "/apis/apps/v1/namespaces/ns/deployments/api/scale", false,
			RequestInfo{IsResource: true, Verb: "patch", APIGroup: "apps", APIVersion: "v1", Namespace: "ns", Resource: "deployments", Name: "api", Subresource: "scale"}, false},
		{"deletecollection", "DELETE", "/api/v1/namespaces/ns/services", false,
			RequestInfo{IsResource: true, Verb: "deletecollection", APIVersion: "v1", Namespace: "ns", Resource: "services"}, false},
		{"discovery", "GET", "/apis/apps/v1", false, RequestInfo{}, false},
		{"version", "GET", "/version", false, RequestInfo{}, false},
		{"too deep", "GET", "/api/v1/namespaces/ns/pods/a/b/c", false, RequestInfo{}, true},
		{"dot-dot name", "GET", "/api/v1/namespaces/ns/pods/..", false, RequestInfo{}, true},
		{"percent name", "GET", "/api/v1/namespaces/ns/pods/a%b", false, RequestInfo{}, true},
		{"bad method", "TRACE", "/api/v1/pods", false, RequestInfo{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequestInfo(tc.method, tc.path, tc.watch)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			got.Path = ""
			if got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func FuzzParseRequestInfo(f *testing.F) {
	for _, s := range []string{"/api/v1/namespaces/default/pods/x/log", "/apis/apps/v1/deployments", "/api", "//", "/apis/a/b/namespaces/c/d/e/f"} {
		f.Add("GET", s, false)
	}
	f.Fuzz(func(t *testing.T, method, path string, watch bool) {
		info, err := ParseRequestInfo(method, path, watch)
		if err == nil && info.IsResource && info.Resource == "" {
			t.Fatalf("resource request without a resource: %q", path)
		}
	})
}

func TestNegotiate(t *testing.T) {
	cases := []struct {
		name, accept string
		want         format
		ok           bool
	}{
		{"empty", "", fmtJSON, true},
		{"json", "application/json", fmtJSON, true},
		{"any", "*/*", fmtJSON, true},
		{"kubectl table", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", fmtTable, true},
		{"client-go protobuf", "application/vnd.kubernetes.protobuf,application/json", fmtProtobuf, true},
		{"yaml", "application/yaml", fmtYAML, true},
		{"metadata", "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json", fmtMetadata, true},
		{"metadata in protobuf", "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json", fmtMetadataProtobuf, true},
		{"unknown as falls through", "application/json;as=Other;v=v1;g=x,application/json", fmtJSON, true},
		{"html only", "text/html", fmtJSON, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := negotiate(tc.accept)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("negotiate(%q) = %v %v, want %v %v", tc.accept, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func FuzzNegotiate(f *testing.F) {
	f.Add("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
	f.Add("application/vnd.kubernetes.protobuf;q=0.9,*/*;q=0.1")
	f.Fuzz(func(t *testing.T, accept string) {
		negotiate(accept)
		aggregatedVersion(accept)
	})
}
