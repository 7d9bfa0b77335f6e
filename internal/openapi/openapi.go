// Package openapi builds the OpenAPI documents kubectl reads: v3 per group
// version (apply's server-side field validation and explain) and v2 in
// protobuf (kubectl 1.27 and 1.28). Schemas come from the k8s.io/api Go types
// by reflection, with descriptions from their SwaggerDoc methods.
package openapi

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcnet/svcnet/internal/registry"

	"github.com/svcnet/svcnet/internal/version"
)

// Documents are the built documents.
type Documents struct {
	// V3Root is the /openapi/v3 index.
	V3Root []byte
	// V3 maps "api/v1", "apis/apps/v1", ... to documents.
	V3 map[string][]byte
	// V3Hash maps the same keys to content hashes.
	V3Hash map[string]string
	// V2JSON and V2Proto are the whole v2 (swagger) document.
	V2JSON, V2Proto []byte
}

type gen struct {
	v3      bool
	schemas map[string]map[string]any
	gvks    map[reflect.Type][]map[string]string
}

var (
	timeType      = reflect.TypeOf(metav1.Time{})
	microTimeType = reflect.TypeOf(metav1.MicroTime{})
	intstrType    = reflect.TypeOf(intstr.IntOrString{})
	quantityType  = reflect.TypeOf(resource.Quantity{})
	rawExtType    = reflect.TypeOf(runtime.RawExtension{})
	durationType  = reflect.TypeOf(metav1.Duration{})
	fieldsV1Type  = reflect.TypeOf(metav1.FieldsV1{})
)

// Name is the OpenAPI definition name of a Go type, as Kubernetes names it.
func Name(t reflect.Type) string {
	pkg := t.PkgPath()
	if rest, ok := strings.CutPrefix(pkg, "k8s.io/"); ok {
		pkg = "io.k8s." + rest
	}
	return strings.ReplaceAll(pkg, "/", ".") + "." + t.Name()
}

func (g *gen) ref(t reflect.Type) string {
	if g.v3 {
		return "#/components/schemas/" + Name(t)
	}
	return "#/definitions/" + Name(t)
}

// schemaOf returns the schema of a type used as a field; structs become refs.
func (g *gen) schemaOf(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t {
	case timeType, microTimeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case intstrType:
		if g.v3 {
			return map[string]any{"x-kubernetes-int-or-string": true, "anyOf": []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}}}
		}
		return map[string]any{"type": "string", "format": "int-or-string"}
	case quantityType:
		return map[string]any{"type": "string"}
	case durationType:
		return map[string]any{"type": "string"}
	case rawExtType:
		return map[string]any{"type": "object"}
	case fieldsV1Type:
		return map[string]any{"type": "object"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int32, reflect.Uint16, reflect.Int16, reflect.Uint8, reflect.Int8:
		return map[string]any{"type": "integer", "format": "int32"}
	case reflect.Int, reflect.Int64, reflect.Uint32, reflect.Uint64, reflect.Uint:
		return map[string]any{"type": "integer", "format": "int64"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number", "format": "double"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": g.schemaOf(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schemaOf(t.Elem())}
	case reflect.Struct:
		g.define(t)
		return map[string]any{"$ref": g.ref(t)}
	case reflect.Interface:
		return map[string]any{"type": "object"}
	}
	return map[string]any{}
}

type swaggerDoc interface{ SwaggerDoc() map[string]string }

// define adds the schema of a struct type.
func (g *gen) define(t reflect.Type) {
	name := Name(t)
	if _, ok := g.schemas[name]; ok {
		return
	}
	s := map[string]any{"type": "object"}
	g.schemas[name] = s
	docs := map[string]string{}
	if d, ok := reflect.New(t).Interface().(swaggerDoc); ok {
		docs = d.SwaggerDoc()
	} else if d, ok := reflect.Zero(t).Interface().(swaggerDoc); ok {
		docs = d.SwaggerDoc()
	}
	if d := docs[""]; d != "" {
		s["description"] = d
	}
	props := map[string]any{}
	var required []string
	g.fields(t, props, &required, docs)
	if len(props) > 0 {
		s["properties"] = props
	}
	if len(required) > 0 && g.v3 {
		sort.Strings(required)
		s["required"] = required
	}
	if gvks := g.gvks[t]; len(gvks) > 0 {
		s["x-kubernetes-group-version-kind"] = gvks
	}
}

func (g *gen) fields(t reflect.Type, props map[string]any, required *[]string, docs map[string]string) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				sub := map[string]string{}
				if d, ok := reflect.New(ft).Interface().(swaggerDoc); ok {
					sub = d.SwaggerDoc()
				}
				g.fields(ft, props, required, sub)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		fs := g.schemaOf(f.Type)
		desc := docs[name]
		if ref, ok := fs["$ref"]; ok && g.v3 {
			fs = map[string]any{"allOf": []any{map[string]any{"$ref": ref}}}
			if f.Type.Kind() != reflect.Pointer {
				fs["default"] = map[string]any{}
			}
		}
		if desc != "" {
			if _, isRef := fs["$ref"]; !isRef {
				fs["description"] = desc
			}
		}
		props[name] = fs
		if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
			*required = append(*required, name)
		}
	}
}

func gvkExt(group, version, kind string) map[string]string {
	return map[string]string{"group": group, "version": version, "kind": kind}
}

// groupVersionKey is "api/v1" or "apis/<group>/<version>".
func groupVersionKey(group, version string) string {
	if group == "" {
		return "api/" + version
	}
	return "apis/" + group + "/" + version
}

func resourcePaths(res *registry.Resource) (collection, item string) {
	base := "/" + groupVersionKey(res.GVR.Group, res.GVR.Version)
	if res.Namespaced {
		base += "/namespaces/{namespace}"
	}
	collection = base + "/" + res.GVR.Resource
	return collection, collection + "/{name}"
}

func queryParam(name, desc string) map[string]any {
	return map[string]any{"name": name, "in": "query", "description": desc, "schema": map[string]any{"type": "string"}, "uniqueItems": true}
}

func (g *gen) operations(res *registry.Resource) map[string]any {
	collection, item := resourcePaths(res)
	kind := gvkExt(res.GVR.Group, res.GVR.Version, res.Kind)
	t := reflect.TypeOf(res.New()).Elem()
	lt := listType(res)
	body := func(tp reflect.Type) map[string]any {
		if g.v3 {
			return map[string]any{"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": g.ref(tp)}}}}
		}
		return map[string]any{"description": "OK", "schema": map[string]any{"$ref": g.ref(tp)}}
	}
	op := func(action, id string, ret reflect.Type, params ...map[string]any) map[string]any {
		o := map[string]any{
			"operationId":                     id + res.Kind,
			"x-kubernetes-action":             action,
			"x-kubernetes-group-version-kind": kind,
			"responses":                       map[string]any{"200": body(ret)},
		}
		if !g.v3 {
			for _, p := range params {
				p["type"] = "string"
				delete(p, "schema")
			}
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		return o
	}
	fv := func() map[string]any {
		return queryParam("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict")
	}
	fm := func() map[string]any {
		return queryParam("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes.")
	}
	dr := func() map[string]any {
		return queryParam("dryRun", "When present, indicates that modifications should not be persisted. Valid value: All")
	}
	if res.Review {
		return map[string]any{collection: map[string]any{"post": op("post", "create", t, dr(), fm(), fv())}}
	}
	return map[string]any{
		collection: map[string]any{
			"get":  op("list", "list", lt),
			"post": op("post", "create", t, dr(), fm(), fv()),
		},
		item: map[string]any{
			"get":    op("get", "read", t),
			"put":    op("put", "replace", t, dr(), fm(), fv()),
			"patch":  op("patch", "patch", t, dr(), fm(), fv(), queryParam("force", "Force is going to \"force\" Apply requests.")),
			"delete": op("delete", "delete", reflect.TypeOf(metav1.Status{})),
		},
	}
}

// listType is the Go type of a resource's list (reviews have none).
func listType(res *registry.Resource) reflect.Type {
	if res.Review {
		return nil
	}
	return reflect.TypeOf(res.NewList()).Elem()
}

func newGen(v3 bool, resources []*registry.Resource) *gen {
	g := &gen{v3: v3, schemas: map[string]map[string]any{}, gvks: map[reflect.Type][]map[string]string{}}
	for _, res := range resources {
		g.gvks[reflect.TypeOf(res.New()).Elem()] = []map[string]string{gvkExt(res.GVR.Group, res.GVR.Version, res.Kind)}
		if !res.Review {
			g.gvks[listType(res)] = []map[string]string{gvkExt(res.GVR.Group, res.GVR.Version, res.ListKind)}
		}
	}
	g.gvks[reflect.TypeOf(metav1.Status{})] = []map[string]string{gvkExt("", "v1", "Status")}
	return g
}

// Build makes every document for the resources; custom adds the v3
// documents of custom resources' group versions (built from their
// definitions' schemas), keyed as V3, and customV2 their v2 paths and
// definitions ({"paths": …, "definitions": …}).
func Build(resources []*registry.Resource, custom map[string][]byte, customV2 []byte) (*Documents, error) {
	docs := &Documents{V3: map[string][]byte{}, V3Hash: map[string]string{}}
	byGV := map[string][]*registry.Resource{}
	var keys []string
	resources = slices.DeleteFunc(slices.Clone(resources), (*registry.Resource).Custom) // no Go type to reflect on
	for _, res := range resources {
		k := groupVersionKey(res.GVR.Group, res.GVR.Version)
		if _, ok := byGV[k]; !ok {
			keys = append(keys, k)
		}
		byGV[k] = append(byGV[k], res)
	}
	root := map[string]any{}
	for _, k := range keys {
		g := newGen(true, resources)
		paths := map[string]any{}
		for _, res := range byGV[k] {
			g.define(reflect.TypeOf(res.New()).Elem())
			if !res.Review {
				g.define(listType(res))
			}
			for p, ops := range g.operations(res) {
				paths[p] = ops
			}
		}
		g.define(reflect.TypeOf(metav1.Status{}))
		doc := map[string]any{
			"openapi":    "3.0.0",
			"info":       map[string]any{"title": "Kubernetes", "version": version.Kubernetes},
			"paths":      paths,
			"components": map[string]any{"schemas": g.schemas},
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		docs.addV3(root, k, b)
	}
	for k, b := range custom {
		docs.addV3(root, k, b)
	}
	b, err := json.Marshal(map[string]any{"paths": root})
	if err != nil {
		return nil, err
	}
	docs.V3Root = b

	g := newGen(false, resources)
	paths := map[string]any{}
	for _, res := range resources {
		g.define(reflect.TypeOf(res.New()).Elem())
		if !res.Review {
			g.define(listType(res))
		}
		for p, ops := range g.operations(res) {
			paths[p] = ops
		}
	}
	g.define(reflect.TypeOf(metav1.Status{}))
	if len(customV2) > 0 {
		var extra struct {
			Paths       map[string]any `json:"paths"`
			Definitions map[string]any `json:"definitions"`
		}
		if err := json.Unmarshal(customV2, &extra); err != nil {
			return nil, fmt.Errorf("custom resources' openapi v2: %w", err)
		}
		for p, ops := range extra.Paths {
			paths[p] = ops
		}
		for name, def := range extra.Definitions {
			if m, ok := def.(map[string]any); ok && g.schemas[name] == nil {
				g.schemas[name] = m
			}
		}
	}
	v2 := map[string]any{
		"swagger":     "2.0",
		"info":        map[string]any{"title": "Kubernetes", "version": version.Kubernetes},
		"paths":       paths,
		"definitions": g.schemas,
	}
	if docs.V2JSON, err = json.Marshal(v2); err != nil {
		return nil, err
	}
	parsed, err := openapi_v2.ParseDocument(docs.V2JSON)
	if err != nil {
		return nil, fmt.Errorf("openapi v2: %w", err)
	}
	if docs.V2Proto, err = proto.Marshal(parsed); err != nil {
		return nil, err
	}
	return docs, nil
}

func (docs *Documents) addV3(root map[string]any, key string, doc []byte) {
	sum := sha512.Sum512(doc)
	hash := strings.ToUpper(hex.EncodeToString(sum[:]))
	docs.V3[key], docs.V3Hash[key] = doc, hash
	root[key] = map[string]any{"serverRelativeURL": "/openapi/v3/" + key + "?hash=" + hash}
}
