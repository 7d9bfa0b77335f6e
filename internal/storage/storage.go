// Package storage defines the key-value contract the registry stores objects
// through. Values are opaque bytes; every write returns the store revision,
// which the API exposes as resourceVersion. The one implementation is
// storage/etcd (embedded etcd or an etcd cluster, one code path).
package storage

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Callers test them with errors.Is; the apiserver turns them
// into Kubernetes Status objects at the HTTP edge.
var (
	ErrNotFound      = errors.New("storage: key not found")
	ErrAlreadyExists = errors.New("storage: key already exists")
	ErrConflict      = errors.New("storage: revision mismatch")
	ErrCompacted     = errors.New("storage: revision compacted")
	// ErrFutureRevision: a read at a revision etcd has not reached.
	ErrFutureRevision = errors.New("storage: revision in the future")
	// ErrClaimTaken is returned (wrapped in *ClaimTakenError) when a create
	// could not take one of its claim keys because another object holds it.
	ErrClaimTaken = errors.New("storage: claim already taken")
)

// ClaimTakenError names the claim key that was already held.
type ClaimTakenError struct{ Key string }

func (e *ClaimTakenError) Error() string { return "storage: claim " + e.Key + " already taken" }
func (e *ClaimTakenError) Unwrap() error { return ErrClaimTaken }

// KV is one stored value with the revision of its last modification.
type KV struct {
	Key         string
	Value       []byte
	ModRevision int64
}

// EventType says what happened to a key.
type EventType int

const (
	EventPut EventType = iota
	EventCreate
	EventDelete
	// EventProgress carries no key; it tells the watcher that every change up
	// to Revision has been delivered (it becomes a BOOKMARK on the API).
	EventProgress
)

// Event is one change seen by a watch. Prev holds the value before the change
// (for deletes, the last value) when it was known.
type Event struct {
	Type     EventType
	KV       KV
	Prev     *KV
	Revision int64
}

// ListOptions narrow a List.
type ListOptions struct {
	// Revision reads the keys as of that revision; 0 means the latest.
	Revision int64
	// Limit caps the number of keys returned; 0 means no cap.
	Limit int64
	// StartKey, when set, is the first key to return (inclusive); it must lie
	// under the prefix.
	StartKey string
}

// ListResult is a page of keys.
type ListResult struct {
	Items []KV
	// Revision is the store revision the page was read at.
	Revision int64
	// More is true when keys remain after the last item.
	More bool
	// Remaining counts the keys after this page, when More.
	Remaining int64
}

// WriteOptions go with a create or an update. Take are claim keys written
// in the same transaction (value: the key) that must be absent, a held one
// failing the write with *ClaimTakenError; Release are claim keys the same
// transaction deletes (updates only). TTL, when set, has the store remove
// the key that long after the write (at most a minute later), as
// kube-apiserver keeps Events.
type WriteOptions struct {
	Take, Release []string
	TTL           time.Duration
}

// Store is the whole contract the registry needs.
type Store interface {
	// Create writes key only if it is absent (see WriteOptions).
	Create(ctx context.Context, key string, value []byte, o WriteOptions) (int64, error)
	Get(ctx context.Context, key string) (KV, error)
	List(ctx context.Context, prefix string, opts ListOptions) (ListResult, error)
	// Update writes key only if its ModRevision is still expectedRev (see
	// WriteOptions).
	Update(ctx context.Context, key string, value []byte, expectedRev int64, o WriteOptions) (int64, error)
	// Delete removes key only if its ModRevision is still expectedRev (0: any),
	// and releases the given claim keys in the same transaction.
	Delete(ctx context.Context, key string, expectedRev int64, release ...string) (KV, int64, error)
	// Watch streams every change under prefix after revision fromRev (0: from
	// now). The channel closes when ctx ends or the watch fails; a failure is
	// delivered first as an error from Err.
	Watch(ctx context.Context, prefix string, fromRev int64) (Watch, error)
	// CurrentRevision is the newest revision of the store.
	CurrentRevision(ctx context.Context) (int64, error)
}

// Watch is a running watch.
type Watch interface {
	Events() <-chan Event
	// Err is the reason the event channel closed, nil when ctx ended.
	Err() error
	// RequestProgress asks the store for a progress event.
	RequestProgress(ctx context.Context) error
}

// KeyLister lists the keys under a prefix of a Store, page by page.
type KeyLister struct{ Store Store }

// ListKeys returns every key under prefix.
func (k KeyLister) ListKeys(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	start := ""
	for {
		page, err := k.Store.List(ctx, prefix, ListOptions{Limit: 10000, StartKey: start})
		if err != nil {
			return nil, err
		}
		for _, kv := range page.Items {
			out = append(out, kv.Key)
		}
		if !page.More || len(page.Items) == 0 {
			return out, nil
		}
		start = page.Items[len(page.Items)-1].Key + "\x00"
	}
}
