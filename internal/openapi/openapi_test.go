package openapi

import (
	"encoding/json"
	"testing"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"

	"github.com/svcnet/svcnet/internal/registry"
)

func TestBuild(t *testing.T) {
	docs, err := Build(registry.Resources(registry.Config{Services: &registry.ServiceStrategy{}}), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var root struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(docs.V3Root, &root); err != nil {
		t.Fatal(err)
	}
	for _, gv := range []string{"api/v1", "apis/apps/v1", "apis/discovery.k8s.io/v1", "apis/coordination.k8s.io/v1"} {
		if root.Paths[gv].ServerRelativeURL == "" {
			t.Fatalf("root lacks %s", gv)
		}
	}
	var doc struct {
		Paths map[string]map[string]struct {
			GVK        map[string]string `json:"x-kubernetes-group-version-kind"`
			Parameters []struct {
				Name string `json:"name"`
			} `json:"parameters"`
		} `json:"paths"`
		Components struct {
			Schemas map[string]struct {
				GVK        []map[string]string       `json:"x-kubernetes-group-version-kind"`
				Properties map[string]map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(docs.V3["apis/apps/v1"], &doc); err != nil {
		t.Fatal(err)
	}
	patch := doc.Paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
	if patch.GVK["kind"] != "Deployment" || patch.GVK["group"] != "apps" {
		t.Fatalf("patch op gvk: %v", patch.GVK)
	}
	hasFV := false
	for _, p := range patch.Parameters {
		hasFV = hasFV || p.Name == "fieldValidation"
	}
	if !hasFV {
		t.Fatal("patch op lacks the fieldValidation parameter kubectl checks")
	}
	dep := doc.Components.Schemas["io.k8s.api.apps.v1.Deployment"]
	if len(dep.GVK) != 1 || dep.GVK[0]["kind"] != "Deployment" || dep.Properties["spec"] == nil {
		t.Fatalf("Deployment schema: %+v", dep)
	}
	if doc.Components.Schemas["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].Properties["name"]["description"] == nil {
		t.Fatal("ObjectMeta.name has no description")
	}
	var v2 openapi_v2.Document
	if err := proto.Unmarshal(docs.V2Proto, &v2); err != nil || v2.Swagger != "2.0" {
		t.Fatalf("v2 protobuf: %v %q", err, v2.Swagger)
	}
}
