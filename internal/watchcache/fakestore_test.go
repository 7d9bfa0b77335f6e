package watchcache

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/svcnet/svcnet/internal/storage"
)

// fakeStore is an in-memory storage.Store with etcd's revision rules: one
// revision per write across all keys, watches from a revision, progress on
// request.
type fakeStore struct {
	mu      sync.Mutex
	rev     int64
	kv      map[string]storage.KV
	history []storage.Event
	watches []*fakeWatch
	lists   int // List calls
}

func newFakeStore() *fakeStore { return &fakeStore{kv: map[string]storage.KV{}, rev: 1} }

type fakeWatch struct {
	prefix string
	ch     chan storage.Event
	ctx    context.Context
	s      *fakeStore
	err    error
	closed bool
}

func (w *fakeWatch) Events() <-chan storage.Event { return w.ch }
func (w *fakeWatch) Err() error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.err
}
func (w *fakeWatch) RequestProgress(context.Context) error {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.send(storage.Event{Type: storage.EventProgress, Revision: w.s.rev})
	return nil
}

// send delivers without blocking the writer (the channel is large); the
// store's lock orders the events.
func (w *fakeWatch) send(ev storage.Event) {
	if w.closed || w.ctx.Err() != nil {
		return
	}
	w.ch <- ev
}

// put writes key (create or update) and returns the revision.
func (s *fakeStore) put(key, value string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rev++
	prev, existed := s.kv[key]
	kv := storage.KV{Key: key, Value: []byte(value), ModRevision: s.rev}
	s.kv[key] = kv
	ev := storage.Event{Type: storage.EventPut, KV: kv, Revision: s.rev}
	if !existed {
		ev.Type = storage.EventCreate
	} else {
		ev.Prev = &prev
	}
	s.publish(ev)
	return s.rev
}

func (s *fakeStore) del(key string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rev++
	prev := s.kv[key]
	delete(s.kv, key)
	s.publish(storage.Event{Type: storage.EventDelete, KV: storage.KV{Key: key, ModRevision: s.rev}, Prev: &prev, Revision: s.rev})
	return s.rev
}

func (s *fakeStore) publish(ev storage.Event) {
	s.history = append(s.history, ev)
	for _, w := range s.watches {
		if strings.HasPrefix(ev.KV.Key, w.prefix) {
			w.send(ev)
		}
	}
}

// breakWatches ends every watch with an error, as a lost etcd leader does.
func (s *fakeStore) breakWatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, w := range s.watches {
		if !w.closed {
			w.closed, w.err = true, errors.New("etcd watch closed")
			close(w.ch)
		}
	}
	s.watches = nil
}

func (s *fakeStore) Create(context.Context, string, []byte, storage.WriteOptions) (int64, error) {
	return 0, errors.New("not used")
}
func (s *fakeStore) Update(context.Context, string, []byte, int64, storage.WriteOptions) (int64, error) {
	return 0, errors.New("not used")
}
func (s *fakeStore) Delete(context.Context, string, int64, ...string) (storage.KV, int64, error) {
	return storage.KV{}, 0, errors.New("not used")
}
func (s *fakeStore) Get(_ context.Context, key string) (storage.KV, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kv, ok := s.kv[key]
	if !ok {
		return kv, storage.ErrNotFound
	}
	return kv, nil
}

// List reads the current state (the fake keeps no old versions; the cache
// only lists at the current revision and pages at the first page's).
func (s *fakeStore) List(_ context.Context, prefix string, o storage.ListOptions) (storage.ListResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists++
	var keys []string
	for k := range s.kv {
		if strings.HasPrefix(k, prefix) && k >= o.StartKey {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := storage.ListResult{Revision: s.rev}
	for i, k := range keys {
		if o.Limit > 0 && int64(i) == o.Limit {
			out.More, out.Remaining = true, int64(len(keys)-i)
			break
		}
		out.Items = append(out.Items, s.kv[k])
	}
	return out, nil
}

func (s *fakeStore) Watch(ctx context.Context, prefix string, fromRev int64) (storage.Watch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := &fakeWatch{prefix: prefix, ch: make(chan storage.Event, 100000), ctx: ctx, s: s}
	for _, ev := range s.history {
		if ev.Revision > fromRev && strings.HasPrefix(ev.KV.Key, prefix) {
			w.send(ev)
		}
	}
	s.watches = append(s.watches, w)
	return w, nil
}

func (s *fakeStore) CurrentRevision(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rev, nil
}

// testAttrs reads values written as "k=v,k=v|field=v,field=v".
func testAttrs(_ string, value []byte) (labels.Set, fields.Fields, error) {
	l, f, _ := strings.Cut(string(value), "|")
	if strings.HasPrefix(l, "!") {
		return nil, nil, errors.New("undecodable")
	}
	return parseSet(l), fields.Set(parseSet(f)), nil
}

func parseSet(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			out[k] = v
		}
	}
	return out
}
