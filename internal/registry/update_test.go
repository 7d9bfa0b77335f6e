package registry

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/svcnet/svcnet/internal/storage"
	"github.com/svcnet/svcnet/internal/watchcache"
)

// memStore is an in-memory storage.Store: enough of etcd's contract for
// updates (compare-and-swap on the revision) and for a cache to list it.
// Its watches never report anything, so a cache fed by it keeps what it
// listed: a stale view on demand.
type memStore struct {
	mu   sync.Mutex
	rev  int64
	kvs  map[string]storage.KV
	gets int
}

func newMemStore() *memStore { return &memStore{kvs: map[string]storage.KV{}} }

func (s *memStore) put(key string, value []byte) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rev++
	s.kvs[key] = storage.KV{Key: key, Value: value, ModRevision: s.rev}
	return s.rev
}

func (s *memStore) Create(_ context.Context, key string, value []byte, _ storage.WriteOptions) (int64, error) {
	s.mu.Lock()
	_, ok := s.kvs[key]
	s.mu.Unlock()
	if ok {
		return 0, storage.ErrAlreadyExists
	}
	return s.put(key, value), nil
}

func (s *memStore) Get(_ context.Context, key string) (storage.KV, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	kv, ok := s.kvs[key]
	if !ok {
		return storage.KV{}, storage.ErrNotFound
	}
	return kv, nil
}

func (s *memStore) List(_ context.Context, prefix string, _ storage.ListOptions) (storage.ListResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := storage.ListResult{Revision: s.rev}
	for k, kv := range s.kvs {
		if strings.HasPrefix(k, prefix) {
			out.Items = append(out.Items, kv)
		}
	}
	return out, nil
}

func (s *memStore) Update(_ context.Context, key string, value []byte, expectedRev int64, _ storage.WriteOptions) (int64, error) {
	s.mu.Lock()
	kv, ok := s.kvs[key]
	s.mu.Unlock()
	if !ok || kv.ModRevision != expectedRev {
		return 0, storage.ErrConflict
	}
	return s.put(key, value), nil
}

func (s *memStore) Delete(context.Context, string, int64, ...string) (storage.KV, int64, error) {
	panic("not used")
}

func (s *memStore) Watch(ctx context.Context, _ string, _ int64) (storage.Watch, error) {
	w := &silentWatch{ch: make(chan storage.Event)}
	go func() { <-ctx.Done(); close(w.ch) }()
	return w, nil
}

func (s *memStore) CurrentRevision(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev, nil
}

type silentWatch struct{ ch chan storage.Event }

func (w *silentWatch) Events() <-chan storage.Event              { return w.ch }
func (w *silentWatch) Err() error                                { return nil }
func (w *silentWatch) RequestProgress(ctx context.Context) error { return nil }

// An update starts from the watch cache's copy of the object; when that
// copy is stale, what the update does must be what it would have done from
// etcd's: no lost write, no false conflict, no change dropped.
func TestUpdateFromAStaleCache(t *testing.T) {
	cm := func(x string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "ns", UID: "u1",
			CreationTimestamp: metav1.NewTime(time.Unix(1700000000, 0))}, Data: map[string]string{"x": x}}
	}
	set := func(k, v string) UpdateFunc {
		return func(cur runtime.Object) (runtime.Object, error) {
			c := cur.(*corev1.ConfigMap)
			c.Data[k] = v
			return c, nil
		}
	}
	cases := []struct {
		name        string
		cacheFresh  bool
		fn          UpdateFunc
		opts        UpdateOptions
		want        map[string]string
		wantEtcdGet bool
	}{
		// The cache's copy already says x=1: the update is no change there,
		// but etcd's x=2 must still become 1.
		{"the value the stale copy holds", false, set("x", "1"), UpdateOptions{}, map[string]string{"x": "1"}, true},
		// A PUT with etcd's current resourceVersion is no conflict.
		{"etcd's resourceVersion as precondition", false, set("y", "1"), UpdateOptions{ExpectedRV: "2"}, map[string]string{"x": "2", "y": "1"}, true},
		// A change made on the stale copy is made again on etcd's.
		{"a change on top", false, set("y", "1"), UpdateOptions{}, map[string]string{"x": "2", "y": "1"}, true},
		// A current cache saves the read.
		{"a fresh copy", true, set("y", "1"), UpdateOptions{}, map[string]string{"x": "2", "y": "1"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			etcd, view := newMemStore(), newMemStore()
			r := New(etcd, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now, Resources(Config{Services: &ServiceStrategy{}}))
			res, _ := r.Resource(schema.GroupResource{Resource: "configmaps"})
			key := r.Key(res, "ns", "cm")
			put := func(s *memStore, x string) {
				b, err := r.encode(res, cm(x))
				if err != nil {
					t.Fatal(err)
				}
				s.put(key, b)
			}
			put(etcd, "1")
			if tc.cacheFresh {
				put(etcd, "2")
				view.kvs[key], view.rev = etcd.kvs[key], etcd.rev // the cache saw etcd's x=2
			} else {
				put(view, "1") // what the cache saw at revision 1
				put(etcd, "2") // then someone else wrote x=2 (revision 2)
			}
			c := watchcache.New(watchcache.Config{Store: view, Prefix: r.Prefix(res, ""), Attrs: r.attrs(res)})
			r.caches = map[*Resource]*watchcache.Cache{res: c}
			go c.Run(ctx)
			for deadline := time.Now().Add(5 * time.Second); !c.Ready(); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the cache did not list its store within 5s")
				}
			}
			etcd.gets = 0
			out, err := r.Update(ctx, res, "ns", "cm", tc.fn, tc.opts)
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			stored, err := r.Get(ctx, res, "ns", "cm")
			if err != nil {
				t.Fatal(err)
			}
			if got := stored.(*corev1.ConfigMap).Data; !maps.Equal(got, tc.want) {
				t.Errorf("etcd holds %v, want %v", got, tc.want)
			}
			if got := out.(*corev1.ConfigMap); got.ResourceVersion != "3" || !maps.Equal(got.Data, tc.want) {
				t.Errorf("update returned rv %s %v, want rv 3 %v", got.ResourceVersion, got.Data, tc.want)
			}
			if (etcd.gets > 1) != tc.wantEtcdGet { // the check above read it once
				t.Errorf("update read etcd: %v, want %v", etcd.gets > 1, tc.wantEtcdGet)
			}
		})
	}
}
