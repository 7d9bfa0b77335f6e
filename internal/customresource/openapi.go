package customresource

import (
	"encoding/json"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/controller/openapi/builder"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// OpenAPIV3 builds the OpenAPI v3 documents of the definitions' served
// versions with apiextensions-apiserver's builder (what kubectl explain
// and server-side field validation read), keyed "apis/<group>/<version>"
// as the /openapi/v3 paths. A version whose document cannot be built is
// left out.
func OpenAPIV3(crds []*apiextensionsv1.CustomResourceDefinition) map[string][]byte {
	byGV := map[string][]*spec3.OpenAPI{}
	sort.Slice(crds, func(i, j int) bool { return crds[i].Name < crds[j].Name })
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			doc, err := builder.BuildOpenAPIV3(crd, v.Name, builder.Options{V2: false, IncludeSelectableFields: true})
			if err != nil {
				continue
			}
			key := "apis/" + crd.Spec.Group + "/" + v.Name
			byGV[key] = append(byGV[key], doc)
		}
	}
	out := map[string][]byte{}
	for key, docs := range byGV {
		merged, err := builder.MergeSpecsV3(docs...)
		if err != nil {
			continue
		}
		if b, err := json.Marshal(merged); err == nil {
			out[key] = b
		}
	}
	return out
}

// OpenAPIV2 builds the OpenAPI v2 (swagger) paths and definitions of the
// definitions' served versions, merged, as JSON ({"paths": …,
// "definitions": …}); nil when there is none.
func OpenAPIV2(crds []*apiextensionsv1.CustomResourceDefinition) []byte {
	var docs []*spec.Swagger
	sort.Slice(crds, func(i, j int) bool { return crds[i].Name < crds[j].Name })
	for _, crd := range crds {
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			if doc, err := builder.BuildOpenAPIV2(crd, v.Name, builder.Options{V2: true, IncludeSelectableFields: true}); err == nil {
				docs = append(docs, doc)
			}
		}
	}
	if len(docs) == 0 {
		return nil
	}
	empty := &spec.Swagger{SwaggerProps: spec.SwaggerProps{Paths: &spec.Paths{Paths: map[string]spec.PathItem{}}, Definitions: spec.Definitions{}}}
	merged, err := builder.MergeSpecs(empty, docs...)
	if err != nil {
		return nil
	}
	b, err := json.Marshal(map[string]any{"paths": merged.Paths, "definitions": merged.Definitions})
	if err != nil {
		return nil
	}
	return b
}
