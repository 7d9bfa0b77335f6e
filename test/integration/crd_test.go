package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

func ptrTo[T any](v T) *T { return &v }

// gadgetCRD has a structural schema with defaults, an enum, a CEL rule, an
// int-or-string and a preserved subtree; status and scale subresources;
// printer columns; and a second served version.
func gadgetCRD(scope apiextensionsv1.ResourceScope) *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "gadgets.test.svcnet.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "test.svcnet.io", Scope: scope,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "gadgets", Singular: "gadget", Kind: "Gadget", ShortNames: []string{"gd"}},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Subresources: &apiextensionsv1.CustomResourceSubresources{
					Status: &apiextensionsv1.CustomResourceSubresourceStatus{},
					Scale:  &apiextensionsv1.CustomResourceSubresourceScale{SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas"},
				},
				AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{{Name: "Size", Type: "string", JSONPath: ".spec.size"}},
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {
							Type:         "object",
							XValidations: apiextensionsv1.ValidationRules{{Rule: "self.replicas <= self.maxReplicas", Message: "replicas must not exceed maxReplicas"}},
							Properties: map[string]apiextensionsv1.JSONSchemaProps{
								"size":        {Type: "string", Enum: []apiextensionsv1.JSON{{Raw: []byte(`"small"`)}, {Raw: []byte(`"large"`)}}, Default: &apiextensionsv1.JSON{Raw: []byte(`"small"`)}},
								"replicas":    {Type: "integer", Default: &apiextensionsv1.JSON{Raw: []byte(`1`)}},
								"maxReplicas": {Type: "integer", Default: &apiextensionsv1.JSON{Raw: []byte(`10`)}},
								"port":        {XIntOrString: true, AnyOf: []apiextensionsv1.JSONSchemaProps{{Type: "integer"}, {Type: "string"}}},
								"extra":       {Type: "object", XPreserveUnknownFields: ptrTo(true)},
								"ports": {Type: "array", XListType: ptrTo("map"), XListMapKeys: []string{"name"},
									Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", Required: []string{"name"},
										Properties: map[string]apiextensionsv1.JSONSchemaProps{"name": {Type: "string"}, "port": {Type: "integer"}}}}},
							},
						},
						"status": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"replicas": {Type: "integer"}}},
					},
				}},
			}, {
				Name: "v1beta1", Served: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: ptrTo(true)}},
			}},
		},
	}
}

var gadgets = schema.GroupVersionResource{Group: "test.svcnet.io", Version: "v1", Resource: "gadgets"}

func gadget(name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "test.svcnet.io/v1", "kind": "Gadget",
		"metadata": map[string]any{"name": name}, "spec": spec,
	}}
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// A definition is served within a second of its create, with every verb,
// its schema's pruning, defaults and rules, its subresources, in
// discovery; a dynamic informer sees each change once; deleting the
// definition deletes its objects and stops serving it.
func TestCustomResources(t *testing.T) {
	s := sharedServer(t)
	ctx := ctxT(t)
	ext := apiextclient.NewForConfigOrDie(s.restConfig(false))
	dyn := dynamic.NewForConfigOrDie(s.restConfig(true))
	mkNamespace(t, s.client(false), "crd-test")

	start := time.Now()
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, gadgetCRD(apiextensionsv1.NamespaceScoped), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, func() error {
		crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "gadgets.test.svcnet.io", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !established(crd) || crd.Status.AcceptedNames.Kind != "Gadget" || len(crd.Status.StoredVersions) != 1 || crd.Status.StoredVersions[0] != "v1" {
			return fmt.Errorf("status %+v", crd.Status)
		}
		if !containsString(crd.Finalizers, apiextensionsv1.CustomResourceCleanupFinalizer) && len(crd.Finalizers) != 0 {
			return fmt.Errorf("finalizers %v", crd.Finalizers)
		}
		return nil
	})
	t.Logf("established in %v", time.Since(start))

	// Discovery: both versions, v1 preferred, subresources listed.
	dc := discovery.NewDiscoveryClientForConfigOrDie(s.restConfig(false))
	groups, resources, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatal(err)
	}
	var preferred string
	for _, g := range groups {
		if g.Name == "test.svcnet.io" {
			preferred = g.PreferredVersion.Version
		}
	}
	if preferred != "v1" {
		t.Fatalf("preferred version %q, want v1", preferred)
	}
	var names []string
	for _, l := range resources {
		if strings.HasPrefix(l.GroupVersion, "test.svcnet.io/") {
			for _, r := range l.APIResources {
				names = append(names, l.GroupVersion+"/"+r.Name)
			}
		}
	}
	for _, want := range []string{"test.svcnet.io/v1/gadgets", "test.svcnet.io/v1/gadgets/status", "test.svcnet.io/v1/gadgets/scale", "test.svcnet.io/v1beta1/gadgets"} {
		if !containsString(names, want) {
			t.Fatalf("discovery lacks %s: %v", want, names)
		}
	}

	// An informer on the custom resource sees every change once.
	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "crd-test", nil)
	inf := factory.ForResource(gadgets).Informer()
	var mu sync.Mutex
	seen := map[string]int{}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { mu.Lock(); seen["add"]++; mu.Unlock() },
		UpdateFunc: func(any, any) { mu.Lock(); seen["update"]++; mu.Unlock() },
		DeleteFunc: func(any) { mu.Lock(); seen["delete"]++; mu.Unlock() },
	})
	stop := make(chan struct{})
	defer close(stop)
	factory.Start(stop)
	factory.WaitForCacheSync(stop)

	g := dyn.Resource(gadgets).Namespace("crd-test")
	// Create: unknown fields pruned (with a warning-free, non-strict
	// create), defaults applied, status dropped, generation 1.
	in := gadget("g1", map[string]any{"replicas": int64(3), "unknown": "x", "port": "http", "extra": map[string]any{"kept": true}})
	in.Object["status"] = map[string]any{"replicas": int64(9)}
	out, err := g.Create(ctx, in, metav1.CreateOptions{FieldValidation: "Ignore"})
	if err != nil {
		t.Fatal(err)
	}
	spec, _, _ := unstructured.NestedMap(out.Object, "spec")
	if _, ok := spec["unknown"]; ok || spec["size"] != "small" || spec["maxReplicas"] != int64(10) || spec["port"] != "http" {
		t.Fatalf("create: spec %v", spec)
	}
	if kept, _, _ := unstructured.NestedBool(out.Object, "spec", "extra", "kept"); !kept {
		t.Fatalf("preserved field dropped: %v", spec)
	}
	if _, ok := out.Object["status"]; ok || out.GetGeneration() != 1 {
		t.Fatalf("create kept status or generation %d: %v", out.GetGeneration(), out.Object)
	}
	// Strict field validation names the unknown field.
	_, err = g.Create(ctx, gadget("g0", map[string]any{"bogus": 1}), metav1.CreateOptions{FieldValidation: "Strict"})
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), `unknown field "spec.bogus"`) {
		t.Fatalf("strict create: %v", err)
	}
	// Invalid objects: the schema's and the CEL rule's field causes.
	for _, tc := range []struct {
		spec  map[string]any
		field string
		typ   metav1.CauseType
	}{
		{map[string]any{"size": "huge"}, "spec.size", metav1.CauseTypeFieldValueNotSupported},
		{map[string]any{"replicas": int64(20), "maxReplicas": int64(5)}, "spec", metav1.CauseTypeFieldValueInvalid},
		{map[string]any{"replicas": "three"}, "spec.replicas", metav1.CauseTypeTypeInvalid},
	} {
		_, err := g.Create(ctx, gadget("bad", tc.spec), metav1.CreateOptions{})
		var se *apierrors.StatusError
		if !errors.As(err, &se) || se.ErrStatus.Code != 422 || se.ErrStatus.Details == nil {
			t.Fatalf("%v: %v", tc.spec, err)
		}
		found := false
		for _, c := range se.ErrStatus.Details.Causes {
			found = found || (c.Field == tc.field && c.Type == tc.typ)
		}
		if !found {
			t.Fatalf("%v: causes %+v, want %s %s", tc.spec, se.ErrStatus.Details.Causes, tc.typ, tc.field)
		}
	}
	// Update through the main resource keeps status; a spec change bumps
	// the generation; the status subresource writes status alone.
	out.Object["status"] = map[string]any{"replicas": int64(7)}
	_ = unstructured.SetNestedField(out.Object, "large", "spec", "size")
	upd, err := g.Update(ctx, out, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := upd.Object["status"]; ok || upd.GetGeneration() != 2 {
		t.Fatalf("update: generation %d status %v", upd.GetGeneration(), upd.Object["status"])
	}
	upd.Object["status"] = map[string]any{"replicas": int64(3)}
	_ = unstructured.SetNestedField(upd.Object, "small", "spec", "size")
	st, err := g.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r, _, _ := unstructured.NestedInt64(st.Object, "status", "replicas"); r != 3 || st.GetGeneration() != 2 {
		t.Fatalf("status update: %v", st.Object)
	}
	if sz, _, _ := unstructured.NestedString(st.Object, "spec", "size"); sz != "large" {
		t.Fatalf("status update changed spec: %v", sz)
	}
	// Scale, and the merge patch it makes.
	sc, err := g.Get(ctx, "g1", metav1.GetOptions{}, "scale")
	if err != nil {
		t.Fatal(err)
	}
	if r, _, _ := unstructured.NestedInt64(sc.Object, "spec", "replicas"); r != 3 {
		t.Fatalf("scale %v", sc.Object)
	}
	if _, err := g.Patch(ctx, "g1", types.MergePatchType, []byte(`{"spec":{"replicas":5}}`), metav1.PatchOptions{}, "scale"); err != nil {
		t.Fatal(err)
	}
	// The other version serves the same object under its own apiVersion.
	beta, err := dyn.Resource(schema.GroupVersionResource{Group: "test.svcnet.io", Version: "v1beta1", Resource: "gadgets"}).Namespace("crd-test").Get(ctx, "g1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r, _, _ := unstructured.NestedInt64(beta.Object, "spec", "replicas"); beta.GetAPIVersion() != "test.svcnet.io/v1beta1" || r != 5 {
		t.Fatalf("v1beta1: %v", beta.Object)
	}
	// Strategic merge patch is refused as kube-apiserver refuses it.
	_, err = g.Patch(ctx, "g1", types.StrategicMergePatchType, []byte(`{"spec":{"replicas":4}}`), metav1.PatchOptions{})
	if !apierrors.IsUnsupportedMediaType(err) {
		t.Fatalf("strategic merge patch: %v", err)
	}
	// Server-side apply creates and records its manager.
	applied, err := g.Apply(ctx, "g2", gadget("g2", map[string]any{"size": "large"}), metav1.ApplyOptions{FieldManager: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	if len(applied.GetManagedFields()) == 0 || applied.GetManagedFields()[0].Manager != "tester" {
		t.Fatalf("apply managedFields %+v", applied.GetManagedFields())
	}
	// Field ownership follows the schema: two managers' entries of a map
	// list (x-kubernetes-list-type: map) are merged by key, not replaced.
	if _, err := g.Apply(ctx, "g2", gadget("g2", map[string]any{"size": "large", "ports": []any{map[string]any{"name": "http", "port": int64(80)}}}),
		metav1.ApplyOptions{FieldManager: "tester"}); err != nil {
		t.Fatal(err)
	}
	merged, err := g.Apply(ctx, "g2", gadget("g2", map[string]any{"ports": []any{map[string]any{"name": "https", "port": int64(443)}}}), metav1.ApplyOptions{FieldManager: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if ports, _, _ := unstructured.NestedSlice(merged.Object, "spec", "ports"); len(ports) != 2 {
		t.Fatalf("map list after two managers' applies: %v", ports)
	}
	// Label selectors and the list.
	list, err := g.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=g2"})
	if err != nil || len(list.Items) != 1 || list.Items[0].GetName() != "g2" {
		t.Fatalf("list: %v %v", err, list)
	}
	if err := g.Delete(ctx, "g2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		// g1: created, updated, status, scale; g2: created, applied twice, deleted.
		if seen["add"] != 2 || seen["update"] != 5 || seen["delete"] != 1 {
			return fmt.Errorf("informer saw %v", seen)
		}
		return nil
	})

	// Deleting the definition deletes its objects, then it goes.
	if err := ext.ApiextensionsV1().CustomResourceDefinitions().Delete(ctx, "gadgets.test.svcnet.io", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		_, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, "gadgets.test.svcnet.io", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("definition still there: %v", err)
		}
		return nil
	})
	if _, err := g.List(ctx, metav1.ListOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after delete, list: %v", err)
	}
	// Recreated, it starts empty.
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, gadgetCRD(apiextensionsv1.ClusterScoped), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, func() error {
		l, err := dyn.Resource(gadgets).List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		if len(l.Items) != 0 {
			return fmt.Errorf("old objects came back: %d", len(l.Items))
		}
		return nil
	})
	if _, err := dyn.Resource(gadgets).Create(ctx, gadget("cluster-wide", map[string]any{}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ext.ApiextensionsV1().CustomResourceDefinitions().Delete(context.Background(), "gadgets.test.svcnet.io", metav1.DeleteOptions{})
	})
}

// Names taken by a built-in resource of the group are refused in status.
func TestCustomResourceNameConflict(t *testing.T) {
	s := sharedServer(t)
	ctx := ctxT(t)
	ext := apiextclient.NewForConfigOrDie(s.restConfig(false))
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "ingresses.networking.k8s.io"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "networking.k8s.io", Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "ingresses", Singular: "ingress", Kind: "Ingress"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{Name: "v1alpha9", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object"}}}},
		},
	}
	// *.k8s.io is a protected group without the api-approved annotation.
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); !apierrors.IsInvalid(err) {
		t.Fatalf("protected group: %v", err)
	}
	crd.Annotations = map[string]string{apiextensionsv1.KubeAPIApprovedAnnotation: "https://github.com/kubernetes/kubernetes/pull/1"}
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = ext.ApiextensionsV1().CustomResourceDefinitions().Delete(context.Background(), crd.Name, metav1.DeleteOptions{})
	})
	eventually(t, 2*time.Second, func() error {
		got, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == apiextensionsv1.NamesAccepted && c.Status == apiextensionsv1.ConditionFalse && c.Reason == "NameConflict" {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", got.Status.Conditions)
	})
	// The built-in resource is still the one served.
	if _, err := s.client(false).NetworkingV1().Ingresses("default").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Deleting a namespace deletes its custom resources too: the namespace
// controller finds the served resources by discovery.
func TestCustomResourcesGoWithTheirNamespace(t *testing.T) {
	ctx, dyn, c := gadgetsWithControllers(t)
	mkNamespace(t, c, "doomed")
	eventually(t, 2*time.Second, func() error {
		_, err := dyn.Resource(gadgets).Namespace("doomed").Create(ctx, gadget("g", map[string]any{}), metav1.CreateOptions{})
		return err
	})
	if err := c.CoreV1().Namespaces().Delete(ctx, "doomed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if _, err := c.CoreV1().Namespaces().Get(ctx, "doomed", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("namespace still there: %v", err)
		}
		return nil
	})
	l, err := dyn.Resource(gadgets).List(ctx, metav1.ListOptions{})
	if err != nil || len(l.Items) != 0 {
		t.Fatalf("custom resources left: %v %v", err, l)
	}
}

// The garbage collector follows custom resources as discovery lists them:
// a ConfigMap owned by a custom resource goes with it, and a custom
// resource owned by a ConfigMap goes with that.
func TestGarbageCollectionOfCustomResources(t *testing.T) {
	ctx, dyn, c := gadgetsWithControllers(t)
	g := dyn.Resource(gadgets).Namespace("default")
	var owner *unstructured.Unstructured
	eventually(t, 2*time.Second, func() (err error) {
		owner, err = g.Create(ctx, gadget("owner", map[string]any{}), metav1.CreateOptions{})
		return err
	})
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "owned", OwnerReferences: []metav1.OwnerReference{
		{APIVersion: "test.svcnet.io/v1", Kind: "Gadget", Name: "owner", UID: owner.GetUID()}}}}
	if _, err := c.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	parent, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "parent"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	child := gadget("child", map[string]any{})
	child.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "parent", UID: parent.UID}})
	if _, err := g.Create(ctx, child, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Live owners keep their dependents (give the collector time to follow
	// the new resource and look).
	time.Sleep(6 * time.Second)
	if _, err := c.CoreV1().ConfigMaps("default").Get(ctx, "owned", metav1.GetOptions{}); err != nil {
		t.Fatalf("a dependent of a live owner: %v", err)
	}
	if _, err := g.Get(ctx, "child", metav1.GetOptions{}); err != nil {
		t.Fatalf("a custom resource with a live owner: %v", err)
	}
	if err := g.Delete(ctx, "owner", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().ConfigMaps("default").Delete(ctx, "parent", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() error {
		if _, err := c.CoreV1().ConfigMaps("default").Get(ctx, "owned", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the custom resource's ConfigMap: %v", err)
		}
		if _, err := g.Get(ctx, "child", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("the ConfigMap's custom resource: %v", err)
		}
		return nil
	})
}

// gadgetsWithControllers starts a server of its own with the controllers
// and defines the namespaced gadgets there.
func gadgetsWithControllers(t *testing.T) (context.Context, dynamic.Interface, kubernetes.Interface) {
	t.Helper()
	s := startServer(t, serverOpts{controllers: true, nodeName: "node-1"})
	ctx := ctxT(t)
	ext := apiextclient.NewForConfigOrDie(s.restConfig(false))
	if _, err := ext.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, gadgetCRD(apiextensionsv1.NamespaceScoped), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return ctx, dynamic.NewForConfigOrDie(s.restConfig(true)), s.client(false)
}
