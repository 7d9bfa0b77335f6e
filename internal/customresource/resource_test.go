package customresource

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func raw(s string) *apiextensionsv1.JSON { return &apiextensionsv1.JSON{Raw: []byte(s)} }

func widgetCRD() *apiextensionsv1.CustomResourceDefinition {
	selector := ".status.selector"
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList", ShortNames: []string{"wd"}},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{
				{Name: "v1beta1", Served: true, Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptr(true)}}},
				{Name: "v1alpha1", Served: false, Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object"}}},
				{
					Name: "v1", Served: true, Storage: true,
					Subresources: &apiextensionsv1.CustomResourceSubresources{
						Status: &apiextensionsv1.CustomResourceSubresourceStatus{},
						Scale:  &apiextensionsv1.CustomResourceSubresourceScale{SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas", LabelSelectorPath: &selector},
					},
					AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Size", Type: "string", JSONPath: ".spec.size"}},
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
						Type: "object",
						Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"spec": {Type: "object",
								XValidations: apiextensionsv1.ValidationRules{{Rule: "self.replicas <= self.maxReplicas", Message: "too many"}},
								Properties: map[string]apiextensionsv1.JSONSchemaProps{
									"size":        {Type: "string", Enum: []apiextensionsv1.JSON{*raw(`"small"`), *raw(`"large"`)}, Default: raw(`"small"`)},
									"replicas":    {Type: "integer", Minimum: ptr(0.0), Default: raw(`1`)},
									"maxReplicas": {Type: "integer", Default: raw(`10`)},
									"tags":        {Type: "array", XListType: ptr("set"), Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}},
								}},
							"status": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
								"replicas": {Type: "integer"}, "selector": {Type: "string"}}},
						},
					}},
				},
			},
		},
	}
}

func widget(spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": "default"}, "spec": spec}}
}

func TestResources(t *testing.T) {
	rs, err := Resources(widgetCRD())
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].GVR.Version != "v1" || rs[1].GVR.Version != "v1beta1" {
		t.Fatalf("versions: %v", rs)
	}
	v1 := rs[0]
	if v1.StorageName != "example.com/widgets" || rs[1].StorageName != v1.StorageName || !v1.Namespaced || !v1.Custom() ||
		v1.Kind != "Widget" || v1.ShortNames[0] != "wd" || !v1.HasSubresource("status") || !v1.HasSubresource("scale") || rs[1].HasSubresource("status") {
		t.Fatalf("v1 resource %+v", v1)
	}
	// Pruned and defaulted.
	w := widget(map[string]any{"replicas": int64(3), "colour": "red"})
	if unknown := v1.UnknownFields(w); len(unknown) != 1 || unknown[0] != "spec.colour" {
		t.Fatalf("unknown fields %v", unknown)
	}
	v1.Default(w)
	if got, _ := json.Marshal(w.Object["spec"]); string(got) != `{"maxReplicas":10,"replicas":3,"size":"small"}` {
		t.Fatalf("defaulted spec %s", got)
	}
	if errs := v1.Validate(w); len(errs) != 0 {
		t.Fatalf("valid widget: %v", errs)
	}
	// Invalid ones, with their fields.
	for _, tc := range []struct {
		spec  map[string]any
		field string
		typ   field.ErrorType
	}{
		{map[string]any{"size": "huge"}, "spec.size", field.ErrorTypeNotSupported},
		{map[string]any{"replicas": int64(-1), "maxReplicas": int64(3)}, "spec.replicas", field.ErrorTypeInvalid},
		{map[string]any{"replicas": int64(5), "maxReplicas": int64(3)}, "spec", field.ErrorTypeInvalid},
		{map[string]any{"tags": []any{"a", "a"}}, "spec.tags[1]", field.ErrorTypeDuplicate},
		{map[string]any{"replicas": "three"}, "spec.replicas", field.ErrorTypeTypeInvalid},
	} {
		w := widget(tc.spec)
		v1.Default(w)
		errs := v1.Validate(w)
		found := false
		for _, e := range errs {
			found = found || e.Field == tc.field && e.Type == tc.typ
		}
		if !found {
			t.Errorf("%v: %v, want %s at %s", tc.spec, errs, tc.typ, tc.field)
		}
	}
	// The wrong kind or apiVersion.
	bad := widget(map[string]any{})
	bad.SetAPIVersion("example.com/v2")
	if errs := v1.Validate(bad); len(errs) != 1 || errs[0].Field != "apiVersion" {
		t.Fatalf("apiVersion: %v", errs)
	}
	// An update is checked too, against its old object.
	old := widget(map[string]any{"replicas": int64(1)})
	v1.Default(old)
	if errs := v1.ValidateUpdate(w, old); len(errs) != 0 {
		t.Fatalf("update: %v", errs)
	}
	// Status is dropped on create with the status subresource.
	s := widget(map[string]any{})
	s.Object["status"] = map[string]any{"replicas": int64(2)}
	v1.PrepareForCreate(s)
	if _, ok := s.Object["status"]; ok {
		t.Fatal("status kept on create")
	}
	// Scale.
	sc := widget(map[string]any{"replicas": int64(4)})
	sc.Object["status"] = map[string]any{"replicas": int64(3), "selector": "app=w"}
	spec, status, sel := v1.Scale.Get(sc)
	if spec != 4 || status != 3 || sel == nil || sel.MatchLabels["app"] != "w" {
		t.Fatalf("scale %d %d %v", spec, status, sel)
	}
	v1.Scale.Set(sc, 7)
	if r, _, _ := unstructured.NestedInt64(sc.Object, "spec", "replicas"); r != 7 {
		t.Fatalf("scaled to %d", r)
	}
	// Printer columns: Name and the definition's.
	if cols := v1.Table.Columns; len(cols) != 2 || cols[0].Name != "Name" || cols[1].Name != "Size" {
		t.Fatalf("columns %+v", cols)
	}
	if cells := v1.Table.Row(w, time.Now()); len(cells) != 2 || cells[0] != "w" || cells[1] != "small" {
		t.Fatalf("cells %v", cells)
	}
	// Without columns: Name and Age.
	plain := widgetCRD()
	plain.Spec.Versions[2].AdditionalPrinterColumns = nil
	rs, _ = Resources(plain)
	if cols := rs[0].Table.Columns; len(cols) != 2 || cols[1].Name != "Age" {
		t.Fatalf("default columns %+v", cols)
	}
}

func TestOpenAPI(t *testing.T) {
	crd := widgetCRD()
	v3 := OpenAPIV3([]*apiextensionsv1.CustomResourceDefinition{crd})
	doc, ok := v3["apis/example.com/v1"]
	if !ok || len(v3) != 2 {
		t.Fatalf("v3 documents %v", len(v3))
	}
	for _, want := range []string{`"/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"`, `"com.example.v1.Widget"`, `"x-kubernetes-group-version-kind"`} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("v3 lacks %s", want)
		}
	}
	v2 := OpenAPIV2([]*apiextensionsv1.CustomResourceDefinition{crd})
	for _, want := range []string{`"/apis/example.com/v1/namespaces/{namespace}/widgets"`, `"com.example.v1beta1.Widget"`} {
		if !strings.Contains(string(v2), want) {
			t.Errorf("v2 lacks %s", want)
		}
	}
	if OpenAPIV2(nil) != nil {
		t.Error("v2 without definitions")
	}
}

func TestSetCondition(t *testing.T) {
	crd := &apiextensionsv1.CustomResourceDefinition{}
	t1 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if !setCondition(crd, apiextensionsv1.Established, apiextensionsv1.ConditionFalse, "Installing", "", t1) {
		t.Fatal("new condition not reported")
	}
	if setCondition(crd, apiextensionsv1.Established, apiextensionsv1.ConditionFalse, "Installing", "", t1.Add(time.Minute)) {
		t.Fatal("an unchanged condition reported a change")
	}
	setCondition(crd, apiextensionsv1.Established, apiextensionsv1.ConditionFalse, "Other", "", t1.Add(time.Minute))
	if c := crd.Status.Conditions[0]; !c.LastTransitionTime.Time.Equal(t1) || c.Reason != "Other" {
		t.Fatalf("same status, new reason: %+v", c)
	}
	setCondition(crd, apiextensionsv1.Established, apiextensionsv1.ConditionTrue, "InitialNamesAccepted", "", t1.Add(2*time.Minute))
	if c := crd.Status.Conditions[0]; !c.LastTransitionTime.Time.Equal(t1.Add(2*time.Minute)) || condition(crd, apiextensionsv1.Established) != apiextensionsv1.ConditionTrue {
		t.Fatalf("transition: %+v", c)
	}
}

// The definitions' own validation is apiextensions-apiserver's.
func TestDefinitionValidation(t *testing.T) {
	res := DefinitionResource()
	crd := widgetCRD()
	crd.Status.Conditions = []apiextensionsv1.CustomResourceDefinitionCondition{{Type: apiextensionsv1.Established, Status: apiextensionsv1.ConditionTrue}}
	res.PrepareForCreate(crd)
	// A new definition is not established yet, and says so (kubectl wait
	// reads the condition), with its storage version recorded.
	if c := crd.Status.Conditions; len(c) != 1 || c[0].Status != apiextensionsv1.ConditionFalse || c[0].Reason != "Installing" ||
		len(crd.Status.StoredVersions) != 1 || crd.Status.StoredVersions[0] != "v1" {
		t.Fatalf("status after create %+v", crd.Status)
	}
	res.Default(crd)
	if errs := res.Validate(crd); len(errs) != 0 {
		t.Fatalf("valid definition: %v", errs)
	}
	bad := widgetCRD()
	bad.Name = "gadgets.example.com"
	bad.Spec.Versions[2].Schema.OpenAPIV3Schema.Properties["spec"].Properties["size"] = apiextensionsv1.JSONSchemaProps{Type: "string", Default: raw(`3`)}
	res.Default(bad)
	errs := res.Validate(bad)
	var fields []string
	for _, e := range errs {
		fields = append(fields, e.Field)
	}
	joined := strings.Join(fields, " ")
	if !strings.Contains(joined, "metadata.name") || !strings.Contains(joined, "spec.versions[2].schema.openAPIV3Schema.properties[spec].properties[size].default") {
		t.Fatalf("fields %v", fields)
	}
}
