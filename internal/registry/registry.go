// Package registry turns API requests into stored objects: it owns each
// resource's defaults, validation, create/update strategy, selectable fields
// and table columns, and the generic get/list/create/update/delete/watch on
// top of storage.Store. Objects are k8s.io/api types; they are kept in etcd in
// the Kubernetes protobuf encoding under /registry/<resource>/<ns>/<name>.
package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/svcnet/svcnet/internal/intern"
	"github.com/svcnet/svcnet/internal/storage"
	"github.com/svcnet/svcnet/internal/watchcache"
)

// Resource describes one API resource and its strategy. Hooks are optional.
type Resource struct {
	GVR        schema.GroupVersionResource
	Kind       string
	ListKind   string
	Singular   string
	Namespaced bool
	ShortNames []string
	Categories []string
	// Subresources this resource serves: "status", "scale", "log", "attach",
	// "exec", "eviction".
	Subresources []string
	// Review marks a create-only resource that is answered and never stored
	// (SelfSubjectAccessReview and the like); the API server answers it.
	Review bool
	// AllowCreateOnUpdate lets PUT create a missing object.
	AllowCreateOnUpdate bool
	NameFunc            apivalidation.ValidateNameFunc

	New     func() runtime.Object
	NewList func() runtime.Object

	// Default fills unset fields (create, update, apply).
	Default func(obj runtime.Object)
	// PrepareForCreate resets what a client may not set on create.
	PrepareForCreate func(obj runtime.Object)
	Validate         func(obj runtime.Object) field.ErrorList
	ValidateUpdate   func(obj, old runtime.Object) field.ErrorList
	// Fields adds selectable fields beyond metadata.name and metadata.namespace.
	Fields func(obj runtime.Object) fields.Set
	// IndexFields are the selectable fields the watch cache indexes (every
	// label is indexed).
	IndexFields []string
	// Claims takes unique values (ClusterIPs, NodePorts) in the write's transaction.
	Claims Claimer
	// TTL: etcd removes an object that long after its last write (Events,
	// as kube-apiserver's --event-ttl); 0 keeps it.
	TTL time.Duration
	// Table prints rows for server-side tables.
	Table *TableSpec
	// Scale reads and writes spec.replicas for the scale subresource.
	Scale *ScaleSpec
	// GracefulDelete returns the grace period the object waits before it is
	// removed (pods on a node); 0 removes it at once.
	GracefulDelete func(obj runtime.Object, requested *int64) int64
	// DeleteBlocked holds a marked object until it returns false (a
	// Namespace waits for its spec.finalizers); MarkDeleting adjusts an
	// object as it is marked (phase Terminating).
	DeleteBlocked func(obj runtime.Object) bool
	MarkDeleting  func(obj runtime.Object)

	// Codec stores and serves the objects when they have no protobuf
	// encoding (custom resources: JSON); nil is protobuf.
	Codec runtime.Serializer
	// StorageName is the key segment after /registry/ ("<group>/<plural>"
	// for custom resources, as kube-apiserver keeps them); "" is the plural.
	StorageName string
	// TypeConverter gives server-side apply a custom resource's field sets
	// from its schema (list types, map keys); nil for built-ins, whose
	// come from client-go.
	TypeConverter managedfields.TypeConverter
	// UnknownFields drops the fields a decoded object's schema does not
	// know and names them (custom resources; typed objects' decoder finds
	// them).
	UnknownFields func(obj runtime.Object) []string
}

// Custom reports whether the resource is served without protobuf (a custom
// resource).
func (r *Resource) Custom() bool { return r.Codec != nil }

func (r *Resource) storageName() string {
	if r.StorageName != "" {
		return r.StorageName
	}
	return r.GVR.Resource
}

// Claimer allocates unique values an object holds while it exists.
type Claimer interface {
	// Allocate fills in the values obj needs (old is nil on create) and names
	// the claim keys to take and release. attempt counts retries after a lost
	// claim race.
	Allocate(ctx context.Context, obj, old runtime.Object, attempt int) (take, release []string, err error)
	// Taken is the client's error for a claim key it asked for that another
	// object holds. (Keys the server chose are retried instead.)
	Taken(obj runtime.Object, key string) error
	// Held lists the claim keys obj holds.
	Held(obj runtime.Object) []string
}

// GroupResource is the qualified resource.
func (r *Resource) GroupResource() schema.GroupResource { return r.GVR.GroupResource() }

// GroupVersionKind of the resource's objects.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GVR.GroupVersion().WithKind(r.Kind)
}

// HasSubresource reports whether sub is served.
// Verbs the resource serves: every verb, or create alone for a review.
func (r *Resource) Verbs() []string {
	if r.Review {
		return []string{"create"}
	}
	return allVerbs
}

// Stored reports whether objects of the resource live in etcd (all but reviews).
func (r *Resource) Stored() bool { return !r.Review }

func (r *Resource) HasSubresource(sub string) bool {
	for _, s := range r.Subresources {
		if s == sub {
			return true
		}
	}
	return false
}

// Registry is the generic store of every resource.
type Registry struct {
	store   storage.Store
	log     *slog.Logger
	now     func() time.Time
	encoder runtime.Serializer
	// mu guards the served resources: custom resources come and go with
	// their definitions.
	mu        sync.RWMutex
	resources []*Resource
	byGR      map[schema.GroupResource]*Resource
	byGVR     map[schema.GroupVersionResource]*Resource
	byKind    map[schema.GroupVersionKind]*Resource
	// admit is the validating admission every create and update passes
	// after validation (ValidatingAdmissionPolicies); nil admits all.
	admit func(res *Resource, obj, old runtime.Object) error
	// caches holds a watch cache per resource once StartCaches ran.
	caches map[*Resource]*watchcache.Cache
	// labels shares the watch caches' label sets between objects.
	labels *intern.Labels
}

// New builds a registry over a store.
func New(store storage.Store, log *slog.Logger, now func() time.Time, resources []*Resource) *Registry {
	r := &Registry{
		store:   store,
		log:     log,
		now:     now,
		encoder: protobuf.NewSerializer(scheme.Scheme, scheme.Scheme),
		byGR:    map[schema.GroupResource]*Resource{},
		byGVR:   map[schema.GroupVersionResource]*Resource{},
		byKind:  map[schema.GroupVersionKind]*Resource{},
		labels:  intern.NewLabels(),
	}
	r.add(resources)
	return r
}

func (r *Registry) add(resources []*Resource) {
	for _, res := range resources {
		r.resources = append(r.resources, res)
		if _, ok := r.byGR[res.GroupResource()]; !ok {
			r.byGR[res.GroupResource()] = res // the first version is the preferred one
		}
		r.byGVR[res.GVR] = res
		r.byKind[res.GroupVersionKind()] = res
	}
}

// Resources lists every resource, in registration order.
func (r *Registry) Resources() []*Resource {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Clone(r.resources)
}

// Resource finds a resource by group and plural name: its preferred version.
func (r *Registry) Resource(gr schema.GroupResource) (*Resource, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	res, ok := r.byGR[gr]
	return res, ok
}

// ResourceVersion finds a resource served at a group, version and plural.
func (r *Registry) ResourceVersion(gvr schema.GroupVersionResource) (*Resource, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	res, ok := r.byGVR[gvr]
	return res, ok
}

// SetDynamic replaces the resources served for group resource gr (each a
// version of it) by resources, in preference order; none stops serving it.
// Custom resources are served this way as their definitions change.
func (r *Registry) SetDynamic(gr schema.GroupResource, resources []*Resource) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.resources = slices.DeleteFunc(r.resources, func(res *Resource) bool {
		if res.GroupResource() != gr {
			return false
		}
		delete(r.byGVR, res.GVR)
		if r.byKind[res.GroupVersionKind()] == res {
			delete(r.byKind, res.GroupVersionKind())
		}
		return true
	})
	delete(r.byGR, gr)
	r.add(resources)
}

// Now is the registry's clock.
func (r *Registry) Now() time.Time { return r.now() }

// Key is the storage key of an object.
func (r *Registry) Key(res *Resource, ns, name string) string {
	if res.Namespaced {
		return "/registry/" + res.storageName() + "/" + ns + "/" + name
	}
	return "/registry/" + res.storageName() + "/" + name
}

// Prefix is the storage prefix of a list; ns "" means all namespaces.
func (r *Registry) Prefix(res *Resource, ns string) string {
	if res.Namespaced && ns != "" {
		return "/registry/" + res.storageName() + "/" + ns + "/"
	}
	return "/registry/" + res.storageName() + "/"
}

func (r *Registry) encode(res *Resource, obj runtime.Object) ([]byte, error) {
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, err
	}
	rv := m.GetResourceVersion()
	m.SetResourceVersion("")
	defer m.SetResourceVersion(rv)
	return runtime.Encode(r.codec(res), obj)
}

func (r *Registry) codec(res *Resource) runtime.Serializer {
	if res.Codec != nil {
		return res.Codec
	}
	return r.encoder
}

// Decode turns stored bytes into an object with its resourceVersion.
func (r *Registry) Decode(res *Resource, kv storage.KV) (runtime.Object, error) {
	return r.decodeValue(res, kv.Key, kv.Value, kv.ModRevision)
}

func (r *Registry) decodeValue(res *Resource, key string, value []byte, rev int64) (runtime.Object, error) {
	obj := res.New()
	if _, _, err := r.codec(res).Decode(value, nil, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", key, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(res.GroupVersionKind())
	m, _ := meta.Accessor(obj)
	m.SetResourceVersion(strconv.FormatInt(rev, 10))
	return obj, nil
}

// Get reads one object.
func (r *Registry) Get(ctx context.Context, res *Resource, ns, name string) (runtime.Object, error) {
	kv, err := r.store.Get(ctx, r.Key(res, ns, name))
	if err != nil {
		return nil, r.storageError(res, name, err)
	}
	return r.Decode(res, kv)
}

// storageError maps storage errors to API errors.
func (r *Registry) storageError(res *Resource, name string, err error) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(res.GroupResource(), name)
	case errors.Is(err, storage.ErrAlreadyExists):
		return apierrors.NewAlreadyExists(res.GroupResource(), name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(res.GroupResource(), name,
			errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	case errors.Is(err, storage.ErrCompacted):
		return apierrors.NewResourceExpired("The resourceVersion for the provided list is too old.")
	case errors.Is(err, storage.ErrFutureRevision):
		return TooLargeResourceVersion(0, 0)
	case errors.Is(err, context.DeadlineExceeded):
		// The request's time ran out (etcd slow, or without quorum).
		return apierrors.NewTimeoutError("request did not complete within requested timeout - "+context.DeadlineExceeded.Error(), 0)
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return err
	}
	return apierrors.NewInternalError(err)
}

// TooLargeResourceVersion is kube-apiserver's answer to a read at a
// resourceVersion the store has not reached: 504 Timeout, retry after a
// second, with a ResourceVersionTooLarge cause (client-go's reflector
// recognises it). 0 leaves a number out of the message.
func TooLargeResourceVersion(requested, current int64) error {
	msg := "Too large resource version"
	if requested > 0 {
		msg = fmt.Sprintf("Too large resource version: %d, current: %d", requested, current)
	}
	err := apierrors.NewTimeoutError(msg, 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: metav1.CauseTypeResourceVersionTooLarge, Message: "Too large resource version"}}
	return err
}

// Selector filters objects by labels and fields.
type Selector struct {
	Labels labels.Selector
	Fields fields.Selector
}

// Everything reports whether the selector matches all objects.
func (s Selector) Everything() bool {
	return (s.Labels == nil || s.Labels.Empty()) && (s.Fields == nil || s.Fields.Empty())
}

// FieldSet is the set of selectable fields of obj.
func (r *Registry) FieldSet(res *Resource, obj runtime.Object) fields.Set {
	m, _ := meta.Accessor(obj)
	set := fields.Set{"metadata.name": m.GetName()}
	if res.Namespaced {
		set["metadata.namespace"] = m.GetNamespace()
	}
	if res.Fields != nil {
		for k, v := range res.Fields(obj) {
			set[k] = v
		}
	}
	return set
}

// CheckFieldSelector rejects field labels the resource does not support.
func (r *Registry) CheckFieldSelector(res *Resource, sel fields.Selector) error {
	if sel == nil {
		return nil
	}
	supported := r.FieldSet(res, res.New())
	for _, req := range sel.Requirements() {
		if _, ok := supported[req.Field]; !ok {
			return apierrors.NewBadRequest(fmt.Sprintf("field label not supported: %s", req.Field))
		}
	}
	return nil
}

// Matches applies a selector.
func (r *Registry) Matches(res *Resource, sel Selector, obj runtime.Object) bool {
	if sel.Everything() {
		return true
	}
	m, _ := meta.Accessor(obj)
	if sel.Labels != nil && !sel.Labels.Matches(labels.Set(m.GetLabels())) {
		return false
	}
	if sel.Fields != nil && !sel.Fields.Matches(r.FieldSet(res, obj)) {
		return false
	}
	return true
}

// singleName returns the name a selector pins, to narrow the storage range.
func singleName(sel Selector) string {
	if sel.Fields == nil {
		return ""
	}
	if v, ok := sel.Fields.RequiresExactMatch("metadata.name"); ok {
		return v
	}
	return ""
}

// ListOptions of a registry list.
type ListOptions struct {
	Selector Selector
	// Revision reads at an exact revision (continue tokens, Exact match).
	Revision int64
	Limit    int64
	Continue string
	// Stored lists StoredObjects instead of decoded ones when the selector
	// selects everything (or the watch cache applied it).
	Stored bool
	// Stale accepts any revision the watch cache holds (resourceVersion 0);
	// MinRevision at least that one (resourceVersion N). Neither: the
	// current revision (a consistent read).
	Stale       bool
	MinRevision int64
}

// ListResult is a page of objects.
type ListResult struct {
	Items     []runtime.Object
	Revision  int64
	Continue  string
	Remaining *int64
}

// List reads objects of one namespace ("" for all) that match the selector.
func (r *Registry) List(ctx context.Context, res *Resource, ns string, o ListOptions) (ListResult, error) {
	if c := r.caches[res]; c != nil && o.Revision == 0 {
		out, err := r.listCached(ctx, c, res, ns, o)
		if !fallBack(err) {
			return out, err
		}
	}
	prefix := r.Prefix(res, ns)
	exactKey := ""
	if name := singleName(o.Selector); name != "" && (ns != "" || !res.Namespaced) {
		exactKey = r.Key(res, ns, name)
		prefix = exactKey
	}
	start := ""
	rev := o.Revision
	if o.Continue != "" {
		c, err := decodeContinue(o.Continue, prefix)
		if err != nil {
			return ListResult{}, apierrors.NewBadRequest(err.Error())
		}
		start, rev = c.Start, c.Revision
	}
	out := ListResult{Items: []runtime.Object{}}
	stored := o.Stored && o.Selector.Everything()
	for {
		page, err := r.store.List(ctx, prefix, storage.ListOptions{Revision: rev, Limit: pageLimit(o.Limit, len(out.Items)), StartKey: start})
		if err != nil {
			if errors.Is(err, storage.ErrCompacted) && o.Continue != "" {
				return ListResult{}, apierrors.NewResourceExpired("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.")
			}
			return ListResult{}, r.storageError(res, "", err)
		}
		rev = page.Revision
		out.Revision = page.Revision
		for _, kv := range page.Items {
			if exactKey != "" && kv.Key != exactKey {
				continue
			}
			if stored {
				out.Items = append(out.Items, &StoredObject{Resource: res, Value: kv.Value, Revision: kv.ModRevision})
				continue
			}
			obj, err := r.Decode(res, kv)
			if err != nil {
				r.log.Error("skipping undecodable object", "key", kv.Key, "err", err)
				continue
			}
			if r.Matches(res, o.Selector, obj) {
				out.Items = append(out.Items, obj)
			}
		}
		if !page.More || len(page.Items) == 0 {
			return out, nil
		}
		start = page.Items[len(page.Items)-1].Key + "\x00"
		if o.Limit > 0 && int64(len(out.Items)) >= o.Limit {
			out.Continue = encodeContinue(continueToken{Start: start, Revision: rev}, prefix)
			if o.Selector.Everything() {
				rem := page.Remaining
				out.Remaining = &rem
			}
			return out, nil
		}
	}
}

func pageLimit(limit int64, have int) int64 {
	if limit <= 0 {
		return 0
	}
	return max(limit-int64(have), 1)
}

// CheckNamespace fails a create in a missing or terminating namespace.
func (r *Registry) CheckNamespace(ctx context.Context, ns string) error {
	nsRes, _ := r.Resource(schema.GroupResource{Resource: "namespaces"})
	if nsRes == nil {
		return nil
	}
	// Read from etcd, not the namespaces' cache: without quorum a create
	// must time out (504) as in Kubernetes, and this read is what does it
	// before the write's own transaction would fail with a 500.
	obj, err := r.Get(ctx, nsRes, "", ns)
	if err != nil {
		return err
	}
	m, _ := meta.Accessor(obj)
	if m.GetDeletionTimestamp() != nil {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, ns,
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", ns))
	}
	return nil
}

// PrepareCreate defaults, stamps and validates a new object.
func (r *Registry) PrepareCreate(res *Resource, obj runtime.Object) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return apierrors.NewBadRequest(err.Error())
	}
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + rand.String(5))
	}
	m.SetUID(types.UID(uuid.NewUUID()))
	m.SetCreationTimestamp(metav1.NewTime(r.now().Truncate(time.Second)))
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetGeneration(1)
	if !res.Namespaced {
		m.SetNamespace("")
	}
	if res.PrepareForCreate != nil {
		res.PrepareForCreate(obj)
	}
	if res.Default != nil {
		res.Default(obj)
	}
	return r.validate(res, obj, nil)
}

func (r *Registry) validate(res *Resource, obj, old runtime.Object) error {
	m, _ := meta.Accessor(obj)
	nameFn := res.NameFunc
	if nameFn == nil {
		nameFn = apivalidation.NameIsDNSSubdomain
	}
	var errs field.ErrorList
	if old == nil {
		errs = apivalidation.ValidateObjectMetaAccessor(m, res.Namespaced, nameFn, field.NewPath("metadata"))
		if res.Validate != nil {
			errs = append(errs, res.Validate(obj)...)
		}
	} else {
		om, _ := meta.Accessor(old)
		errs = apivalidation.ValidateObjectMetaAccessorUpdate(m, om, field.NewPath("metadata"))
		errs = append(errs, apivalidation.ValidateObjectMetaAccessor(m, res.Namespaced, nameFn, field.NewPath("metadata"))...)
		if res.ValidateUpdate != nil {
			errs = append(errs, res.ValidateUpdate(obj, old)...)
		} else if res.Validate != nil {
			errs = append(errs, res.Validate(obj)...)
		}
	}
	if len(errs) > 0 {
		return apierrors.NewInvalid(res.GroupVersionKind().GroupKind(), m.GetName(), errs)
	}
	if r.admit != nil {
		return r.admit(res, obj, old)
	}
	return nil
}

// SetAdmission sets the validating admission every create and update
// passes once it is valid (old is nil on create). Call it before serving.
func (r *Registry) SetAdmission(admit func(res *Resource, obj, old runtime.Object) error) {
	r.admit = admit
}

// Create stores a prepared object, taking its claims. With dryRun nothing is
// written. It returns the stored object.
func (r *Registry) Create(ctx context.Context, res *Resource, obj runtime.Object, dryRun bool) (runtime.Object, error) {
	m, _ := meta.Accessor(obj)
	generated := m.GetGenerateName() != "" && strings.HasPrefix(m.GetName(), m.GetGenerateName())
	var requested map[string]bool
	if res.Claims != nil {
		requested = stringSet(res.Claims.Held(obj))
	}
	for attempt := 0; attempt < claimAttempts; attempt++ {
		cand := obj.DeepCopyObject()
		cm, _ := meta.Accessor(cand)
		var take []string
		if res.Claims != nil {
			var err error
			take, _, err = res.Claims.Allocate(ctx, cand, nil, attempt)
			if err != nil {
				return nil, err
			}
		}
		if dryRun {
			return cand, nil
		}
		data, err := r.encode(res, cand)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		rev, err := r.store.Create(ctx, r.Key(res, cm.GetNamespace(), cm.GetName()), data, storage.WriteOptions{Take: take, TTL: res.TTL})
		var claimErr *storage.ClaimTakenError
		switch {
		case err == nil:
			cm.SetResourceVersion(strconv.FormatInt(rev, 10))
			return cand, nil
		case errors.As(err, &claimErr):
			if requested[claimErr.Key] {
				return nil, res.Claims.Taken(cand, claimErr.Key)
			}
			continue
		case errors.Is(err, storage.ErrAlreadyExists) && generated && attempt < generateNameAttempts:
			m.SetName(m.GetGenerateName() + rand.String(5))
			continue
		default:
			return nil, r.storageError(res, cm.GetName(), err)
		}
	}
	return nil, apierrors.NewInternalError(fmt.Errorf("could not allocate unique values after %d attempts", claimAttempts))
}

// How often a write is tried again, each after a loss it can recover from.
const (
	// claimAttempts: a server-chosen ClusterIP or NodePort another writer
	// took in the meantime; the allocator picks again.
	claimAttempts = 10
	// generateNameAttempts: a generated name (generateName) that exists.
	generateNameAttempts = 5
	// conflictAttempts: a patch or a delete that lost a race with another
	// writer re-reads the object and applies itself again.
	conflictAttempts = 100
)

// UpdateFunc turns the current object into the desired one. It gets a copy it
// may change. Returning an error aborts the update.
type UpdateFunc func(current runtime.Object) (runtime.Object, error)

// UpdateOptions control an update.
type UpdateOptions struct {
	// Subresource "status" keeps everything but status; "" keeps status when
	// the resource has a status subresource.
	Subresource string
	DryRun      bool
	// ExpectedRV fails the update with Conflict unless the object is still at
	// that resourceVersion (PUT with a resourceVersion).
	ExpectedRV string
	// Retry re-reads and re-applies fn on a write conflict (PATCH).
	Retry bool
}

// Update reads the object, applies fn, defaults, validates and writes it
// back, comparing revisions. It returns the stored object.
func (r *Registry) Update(ctx context.Context, res *Resource, ns, name string, fn UpdateFunc, o UpdateOptions) (runtime.Object, error) {
	key := r.Key(res, ns, name)
	// The first attempt starts from the watch cache's copy, saving a read
	// of etcd. The copy may be stale: the write's compare-and-swap on its
	// revision catches that, and any error or "nothing to write" from a
	// cached start is only believed after a retry from etcd (a stale copy
	// could fail a precondition or look unchanged when etcd's is not).
	cached := r.caches[res] != nil
	for attempt := 0; ; attempt++ {
		var kv storage.KV
		fromCache := false
		if cached {
			cached = false
			if obj, ok := r.caches[res].Latest(key); ok {
				if value, err := obj.Value(); err == nil {
					kv, fromCache = storage.KV{Key: key, Value: value, ModRevision: obj.Revision}, true
				}
			}
		}
		if !fromCache {
			var err error
			if kv, err = r.store.Get(ctx, key); err != nil {
				return nil, r.storageError(res, name, err)
			}
		}
		cur, err := r.Decode(res, kv)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		desired, err := fn(cur.DeepCopyObject())
		if err != nil {
			if fromCache {
				attempt--
				continue
			}
			return nil, err
		}
		out, rev, err := r.write(ctx, res, key, cur, desired, kv.ModRevision, o, attempt)
		if fromCache && (err != nil || rev == 0) {
			attempt--
			continue
		}
		if err == nil {
			if rev == 0 {
				return out, nil
			}
			return r.afterWrite(ctx, res, out, rev)
		}
		if errors.Is(err, storage.ErrConflict) && o.Retry && o.ExpectedRV == "" && attempt < conflictAttempts {
			continue
		}
		var claimErr *storage.ClaimTakenError
		if errors.As(err, &claimErr) {
			// A value the server chose may be free next time; after
			// claimAttempts the claim is reported as the client's error.
			if attempt < claimAttempts {
				continue
			}
			return nil, res.Claims.Taken(desired, claimErr.Key)
		}
		return nil, r.storageError(res, name, err)
	}
}

// write merges, validates and stores desired over cur. rev 0 means nothing
// was written (no change, or dry run).
func (r *Registry) write(ctx context.Context, res *Resource, key string, cur, desired runtime.Object, modRev int64, o UpdateOptions, attempt int) (runtime.Object, int64, error) {
	cm, _ := meta.Accessor(cur)
	dm, err := meta.Accessor(desired)
	if err != nil {
		return nil, 0, apierrors.NewBadRequest(err.Error())
	}
	if o.ExpectedRV != "" && o.ExpectedRV != cm.GetResourceVersion() {
		return nil, 0, storage.ErrConflict
	}
	if dm.GetUID() != "" && dm.GetUID() != cm.GetUID() {
		return nil, 0, apierrors.NewConflict(res.GroupResource(), cm.GetName(),
			fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", dm.GetUID(), cm.GetUID()))
	}
	// Fields the client does not own.
	dm.SetUID(cm.GetUID())
	dm.SetCreationTimestamp(cm.GetCreationTimestamp())
	dm.SetDeletionTimestamp(cm.GetDeletionTimestamp())
	dm.SetDeletionGracePeriodSeconds(cm.GetDeletionGracePeriodSeconds())
	dm.SetGeneration(cm.GetGeneration())
	dm.SetResourceVersion(cm.GetResourceVersion())
	dm.SetNamespace(cm.GetNamespace())
	dm.SetName(cm.GetName())
	switch {
	case o.Subresource == "status":
		desired = withStatusOf(cur, desired)
		// Metadata changes other than labels, annotations, finalizers and owner refs are kept out too.
	case res.HasSubresource("status"):
		desired = withStatusOf(desired, cur)
	}
	dm, _ = meta.Accessor(desired)
	if res.Default != nil {
		res.Default(desired)
	}
	if specChanged(cur, desired) {
		dm.SetGeneration(cm.GetGeneration() + 1)
	}
	var take, release []string
	if res.Claims != nil && o.Subresource == "" {
		take, release, err = res.Claims.Allocate(ctx, desired, cur, attempt)
		if err != nil {
			return nil, 0, err
		}
	}
	if err := r.validate(res, desired, cur); err != nil {
		return nil, 0, err
	}
	if o.DryRun {
		return desired, 0, nil
	}
	if apiequality.Semantic.DeepEqual(stripRV(cur), stripRV(desired)) {
		return cur, 0, nil
	}
	data, err := r.encode(res, desired)
	if err != nil {
		return nil, 0, apierrors.NewInternalError(err)
	}
	rev, err := r.store.Update(ctx, key, data, modRev, storage.WriteOptions{Take: take, Release: release, TTL: res.TTL})
	if err != nil {
		return nil, 0, err
	}
	dm.SetResourceVersion(strconv.FormatInt(rev, 10))
	return desired, rev, nil
}

// afterWrite finishes a deletion that an update unblocked: an object marked
// for deletion whose last finalizer is gone (and whose grace period, if any,
// was ended by a zero-grace delete) is removed.
func (r *Registry) afterWrite(ctx context.Context, res *Resource, obj runtime.Object, rev int64) (runtime.Object, error) {
	m, _ := meta.Accessor(obj)
	if m.GetDeletionTimestamp() == nil || len(m.GetFinalizers()) > 0 || (res.DeleteBlocked != nil && res.DeleteBlocked(obj)) {
		return obj, nil
	}
	if g := m.GetDeletionGracePeriodSeconds(); g != nil && *g > 0 {
		return obj, nil
	}
	var release []string
	if res.Claims != nil {
		release = res.Claims.Held(obj)
	}
	_, _, err := r.store.Delete(ctx, r.Key(res, m.GetNamespace(), m.GetName()), rev, release...)
	if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrConflict) {
		return nil, r.storageError(res, m.GetName(), err)
	}
	return obj, nil
}

func stripRV(obj runtime.Object) runtime.Object {
	c := obj.DeepCopyObject()
	m, _ := meta.Accessor(c)
	m.SetResourceVersion("")
	m.SetManagedFields(nil)
	return c
}

// withStatusOf returns base with the Status field of from.
func withStatusOf(base, from runtime.Object) runtime.Object {
	out := base.DeepCopyObject()
	if u, ok := out.(*unstructured.Unstructured); ok {
		if st, ok := from.(*unstructured.Unstructured).Object["status"]; ok {
			u.Object["status"] = runtime.DeepCopyJSONValue(st)
		} else {
			delete(u.Object, "status")
		}
		return u
	}
	dst := reflect.ValueOf(out).Elem().FieldByName("Status")
	src := reflect.ValueOf(from).Elem().FieldByName("Status")
	if dst.IsValid() && src.IsValid() && dst.CanSet() {
		dst.Set(src)
	}
	return out
}

// specChanged reports whether anything but metadata and status differs.
func specChanged(a, b runtime.Object) bool {
	if ua, ok := a.(*unstructured.Unstructured); ok {
		ub := b.(*unstructured.Unstructured)
		strip := func(m map[string]any) map[string]any {
			c := maps.Clone(m)
			for _, k := range []string{"metadata", "status", "apiVersion", "kind"} {
				delete(c, k)
			}
			return c
		}
		return !apiequality.Semantic.DeepEqual(strip(ua.Object), strip(ub.Object))
	}
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := va.Type()
	for i := 0; i < t.NumField(); i++ {
		switch t.Field(i).Name {
		case "TypeMeta", "ObjectMeta", "Status":
			continue
		}
		if !apiequality.Semantic.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return true
		}
	}
	return false
}

// DeleteOptions of a delete.
type DeleteOptions struct {
	DryRun            bool
	GracePeriod       *int64
	PreconditionUID   string
	PreconditionRV    string
	PropagationPolicy metav1.DeletionPropagation
}

// Delete removes an object, or marks it for deletion when finalizers or a
// grace period hold it. It returns the object as deleted or as marked, and
// whether it is gone.
func (r *Registry) Delete(ctx context.Context, res *Resource, ns, name string, o DeleteOptions) (runtime.Object, bool, error) {
	key := r.Key(res, ns, name)
	for attempt := 0; attempt < conflictAttempts; attempt++ {
		kv, err := r.store.Get(ctx, key)
		if err != nil {
			return nil, false, r.storageError(res, name, err)
		}
		cur, err := r.Decode(res, kv)
		if err != nil {
			return nil, false, apierrors.NewInternalError(err)
		}
		m, _ := meta.Accessor(cur)
		if o.PreconditionUID != "" && string(m.GetUID()) != o.PreconditionUID {
			return nil, false, apierrors.NewConflict(res.GroupResource(), name,
				fmt.Errorf("Precondition failed: UID in precondition: %s, UID in object meta: %s", o.PreconditionUID, m.GetUID()))
		}
		if o.PreconditionRV != "" && m.GetResourceVersion() != o.PreconditionRV {
			return nil, false, apierrors.NewConflict(res.GroupResource(), name,
				fmt.Errorf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", o.PreconditionRV, m.GetResourceVersion()))
		}
		grace := int64(0)
		if res.GracefulDelete != nil {
			grace = res.GracefulDelete(cur, o.GracePeriod)
		}
		finalizers := m.GetFinalizers()
		switch o.PropagationPolicy {
		case metav1.DeletePropagationForeground:
			finalizers = addString(finalizers, metav1.FinalizerDeleteDependents)
		case metav1.DeletePropagationOrphan:
			finalizers = addString(finalizers, metav1.FinalizerOrphanDependents)
		}
		blocked := res.DeleteBlocked != nil && res.DeleteBlocked(cur)
		if len(finalizers) > 0 || grace > 0 || blocked {
			// Mark for deletion.
			if m.GetDeletionTimestamp() != nil {
				cg := m.GetDeletionGracePeriodSeconds()
				if grace > 0 && cg != nil && *cg <= grace {
					return cur, false, nil // already terminating with a shorter grace
				}
			}
			upd := cur.DeepCopyObject()
			um, _ := meta.Accessor(upd)
			now := metav1.NewTime(r.now().Add(time.Duration(grace) * time.Second))
			if um.GetDeletionTimestamp() == nil || grace > 0 {
				um.SetDeletionTimestamp(&now)
			}
			um.SetDeletionGracePeriodSeconds(&grace)
			um.SetFinalizers(finalizers)
			if res.MarkDeleting != nil {
				res.MarkDeleting(upd)
			}
			if o.DryRun {
				return upd, false, nil
			}
			data, err := r.encode(res, upd)
			if err != nil {
				return nil, false, apierrors.NewInternalError(err)
			}
			rev, err := r.store.Update(ctx, key, data, kv.ModRevision, storage.WriteOptions{TTL: res.TTL})
			if errors.Is(err, storage.ErrConflict) {
				continue
			}
			if err != nil {
				return nil, false, r.storageError(res, name, err)
			}
			um.SetResourceVersion(strconv.FormatInt(rev, 10))
			return upd, false, nil
		}
		if o.DryRun {
			return cur, true, nil
		}
		var release []string
		if res.Claims != nil {
			release = res.Claims.Held(cur)
		}
		_, rev, err := r.store.Delete(ctx, key, kv.ModRevision, release...)
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, false, r.storageError(res, name, err)
		}
		m.SetResourceVersion(strconv.FormatInt(rev, 10))
		return cur, true, nil
	}
	return nil, false, apierrors.NewConflict(res.GroupResource(), name, errors.New("too many concurrent changes"))
}

func addString(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(append([]string(nil), list...), s)
}

func stringSet(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}
