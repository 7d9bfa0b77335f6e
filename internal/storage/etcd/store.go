// Package etcd implements storage.Store on the etcd v3 API. It is the only
// package that imports the etcd client.
package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/svcnet/svcnet/internal/storage"
)

// Store is a storage.Store backed by an etcd client.
type Store struct {
	cli    *clientv3.Client
	log    *slog.Logger
	leases *leases
}

var _ storage.Store = (*Store)(nil)

// Config says how to reach etcd.
type Config struct {
	Endpoints   []string
	DialTimeout time.Duration
	// TLS, when set, is how https endpoints are dialled (the CA to trust,
	// the client certificate to show).
	TLS *tls.Config
}

// New connects to etcd. It does not wait for the cluster to answer.
func New(cfg Config, log *slog.Logger) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("etcd: no endpoints")
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:          cfg.Endpoints,
		DialTimeout:        cfg.DialTimeout,
		MaxCallSendMsgSize: 8 << 20,
		MaxCallRecvMsgSize: 256 << 20,
		Logger:             nil,
		TLS:                cfg.TLS,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return &Store{cli: cli, log: log, leases: newLeases(func(ctx context.Context, ttl int64) (int64, error) {
		resp, err := cli.Grant(ctx, ttl)
		if err != nil {
			return 0, err
		}
		return int64(resp.ID), nil
	}, time.Now)}, nil
}

// Close releases the client.
func (s *Store) Close() error { return s.cli.Close() }

// Ping checks that etcd answers within ctx.
func (s *Store) Ping(ctx context.Context) error {
	_, err := s.cli.Get(ctx, "/registry/ping-svcnet", clientv3.WithCountOnly())
	return err
}

// ReadyCheck returns a check that etcd answers a quorum read within
// timeout, for /readyz. As kube-apiserver's, it probes at most once per
// half timeout and answers the last result in between, so probes cannot
// load etcd.
func (s *Store) ReadyCheck(timeout time.Duration) func() error {
	var (
		mu   sync.Mutex
		last time.Time
		err  error
	)
	return func() error {
		mu.Lock()
		defer mu.Unlock()
		if !last.IsZero() && time.Since(last) < timeout/2 {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		err = s.Ping(ctx)
		last = time.Now()
		return err
	}
}

// Create writes key only if it is absent (see storage.Store).
func (s *Store) Create(ctx context.Context, key string, value []byte, o storage.WriteOptions) (int64, error) {
	put, err := s.put(ctx, key, value, o.TTL)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", key, ctxErr(ctx, err))
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", 0)}
	ops := []clientv3.Op{put}
	for _, c := range o.Take {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(c), "=", 0))
		ops = append(ops, clientv3.OpPut(c, key))
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", key, ctxErr(ctx, err))
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	// Find which compare failed.
	if _, err := s.Get(ctx, key); err == nil {
		return 0, storage.ErrAlreadyExists
	}
	for _, c := range o.Take {
		if _, err := s.Get(ctx, c); err == nil {
			return 0, &storage.ClaimTakenError{Key: c}
		}
	}
	return 0, storage.ErrConflict
}

// put is the write of key, attached to a shared lease when it expires.
func (s *Store) put(ctx context.Context, key string, value []byte, ttl time.Duration) (clientv3.Op, error) {
	if ttl <= 0 {
		return clientv3.OpPut(key, string(value)), nil
	}
	id, err := s.leases.get(ctx, ttl)
	if err != nil {
		return clientv3.Op{}, err
	}
	return clientv3.OpPut(key, string(value), clientv3.WithLease(clientv3.LeaseID(id))), nil
}

func (s *Store) Get(ctx context.Context, key string) (storage.KV, error) {
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return storage.KV{}, fmt.Errorf("get %s: %w", key, ctxErr(ctx, err))
	}
	if len(resp.Kvs) == 0 {
		return storage.KV{}, storage.ErrNotFound
	}
	kv := resp.Kvs[0]
	return storage.KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}, nil
}

func (s *Store) List(ctx context.Context, prefix string, o storage.ListOptions) (storage.ListResult, error) {
	start := prefix
	if o.StartKey != "" {
		start = o.StartKey
	}
	end := clientv3.GetPrefixRangeEnd(prefix)
	opts := []clientv3.OpOption{clientv3.WithRange(end)}
	if o.Revision > 0 {
		opts = append(opts, clientv3.WithRev(o.Revision))
	}
	if o.Limit > 0 {
		opts = append(opts, clientv3.WithLimit(o.Limit))
	}
	resp, err := s.cli.Get(ctx, start, opts...)
	if err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return storage.ListResult{}, storage.ErrCompacted
		}
		if errors.Is(err, rpctypes.ErrFutureRev) {
			return storage.ListResult{}, storage.ErrFutureRevision
		}
		return storage.ListResult{}, fmt.Errorf("list %s: %w", prefix, ctxErr(ctx, err))
	}
	out := storage.ListResult{Revision: resp.Header.Revision, More: resp.More}
	if o.Revision > 0 {
		out.Revision = o.Revision
	}
	out.Items = make([]storage.KV, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		out.Items = append(out.Items, storage.KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision})
	}
	if resp.More {
		out.Remaining = resp.Count - int64(len(resp.Kvs))
	}
	return out, nil
}

func (s *Store) Update(ctx context.Context, key string, value []byte, expectedRev int64, o storage.WriteOptions) (int64, error) {
	put, err := s.put(ctx, key, value, o.TTL)
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", key, ctxErr(ctx, err))
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", expectedRev)}
	ops := []clientv3.Op{put}
	for _, c := range o.Take {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(c), "=", 0))
		ops = append(ops, clientv3.OpPut(c, key))
	}
	for _, c := range o.Release {
		ops = append(ops, clientv3.OpDelete(c))
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).
		Else(clientv3.OpGet(key, clientv3.WithCountOnly())).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("update %s: %w", key, ctxErr(ctx, err))
	}
	if !resp.Succeeded {
		r := resp.Responses[0].GetResponseRange()
		if r != nil && r.Count == 0 {
			return 0, storage.ErrNotFound
		}
		if cur, err := s.Get(ctx, key); err == nil && cur.ModRevision == expectedRev {
			for _, c := range o.Take {
				if _, err := s.Get(ctx, c); err == nil {
					return 0, &storage.ClaimTakenError{Key: c}
				}
			}
		}
		return 0, storage.ErrConflict
	}
	return resp.Header.Revision, nil
}

func (s *Store) Delete(ctx context.Context, key string, expectedRev int64, release ...string) (storage.KV, int64, error) {
	var cmps []clientv3.Cmp
	if expectedRev > 0 {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", expectedRev))
	} else {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), ">", 0))
	}
	ops := []clientv3.Op{clientv3.OpDelete(key, clientv3.WithPrevKV())}
	for _, r := range release {
		ops = append(ops, clientv3.OpDelete(r))
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(key, clientv3.WithCountOnly())).Commit()
	if err != nil {
		return storage.KV{}, 0, fmt.Errorf("delete %s: %w", key, ctxErr(ctx, err))
	}
	if !resp.Succeeded {
		if r := resp.Responses[0].GetResponseRange(); r != nil && r.Count == 0 {
			return storage.KV{}, 0, storage.ErrNotFound
		}
		return storage.KV{}, 0, storage.ErrConflict
	}
	del := resp.Responses[0].GetResponseDeleteRange()
	if del == nil || len(del.PrevKvs) == 0 {
		return storage.KV{}, 0, storage.ErrNotFound
	}
	p := del.PrevKvs[0]
	return storage.KV{Key: string(p.Key), Value: p.Value, ModRevision: p.ModRevision}, resp.Header.Revision, nil
}

func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.cli.Get(ctx, "/registry/health-svcnet", clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("current revision: %w", ctxErr(ctx, err))
	}
	return resp.Header.Revision, nil
}

// Compact discards history before rev.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	_, err := s.cli.Compact(ctx, rev)
	if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return err
	}
	return nil
}

// RunCompactor compacts history every interval to the revision seen one
// interval earlier, so watchers have at least one interval to catch up. It
// blocks until ctx ends.
func (s *Store) RunCompactor(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if last > 0 {
			if err := s.Compact(ctx, last); err != nil && ctx.Err() == nil {
				s.log.Warn("etcd compaction failed", "revision", last, "err", err)
			}
		}
		rev, err := s.CurrentRevision(ctx)
		if err == nil {
			last = rev
		}
	}
}

type watch struct {
	w    clientv3.Watcher
	ch   chan storage.Event
	mu   sync.Mutex
	err  error
	wctx context.Context
}

func (w *watch) Events() <-chan storage.Event { return w.ch }
func (w *watch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
func (w *watch) RequestProgress(ctx context.Context) error { return w.w.RequestProgress(w.wctx) }

func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (storage.Watch, error) {
	watcher := clientv3.NewWatcher(s.cli)
	wctx := clientv3.WithRequireLeader(ctx)
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithProgressNotify()}
	if fromRev > 0 {
		opts = append(opts, clientv3.WithRev(fromRev+1))
	}
	wch := watcher.Watch(wctx, prefix, opts...)
	w := &watch{w: watcher, ch: make(chan storage.Event, 100), wctx: wctx}
	go func() {
		defer close(w.ch)
		defer watcher.Close()
		for resp := range wch {
			if err := resp.Err(); err != nil {
				w.mu.Lock()
				if resp.CompactRevision > 0 || errors.Is(err, rpctypes.ErrCompacted) {
					w.err = storage.ErrCompacted
				} else {
					w.err = err
				}
				w.mu.Unlock()
				return
			}
			if resp.IsProgressNotify() {
				select {
				case w.ch <- storage.Event{Type: storage.EventProgress, Revision: resp.Header.Revision}:
				case <-ctx.Done():
					return
				}
				continue
			}
			for _, ev := range resp.Events {
				out := storage.Event{
					KV:       storage.KV{Key: string(ev.Kv.Key), Value: ev.Kv.Value, ModRevision: ev.Kv.ModRevision},
					Revision: ev.Kv.ModRevision,
				}
				if ev.PrevKv != nil {
					out.Prev = &storage.KV{Key: string(ev.PrevKv.Key), Value: ev.PrevKv.Value, ModRevision: ev.PrevKv.ModRevision}
				}
				switch {
				case ev.Type == clientv3.EventTypeDelete:
					out.Type = storage.EventDelete
				case ev.IsCreate():
					out.Type = storage.EventCreate
				default:
					out.Type = storage.EventPut
				}
				select {
				case w.ch <- out:
				case <-ctx.Done():
					return
				}
			}
		}
		if ctx.Err() == nil {
			w.mu.Lock()
			if w.err == nil {
				w.err = errors.New("etcd watch closed")
			}
			w.mu.Unlock()
		}
	}()
	return w, nil
}

// ctxErr is ctx's error when ctx has ended, or when etcd says the call ran
// out of time (code DeadlineExceeded, or Unknown with "context deadline
// exceeded"); err otherwise. Callers could not tell those from failures.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	// etcd may end the call at the deadline the client sent it a moment
	// before ctx's own timer fires: the same timeout.
	if st, ok := status.FromError(err); ok && (st.Code() == codes.DeadlineExceeded || strings.Contains(st.Message(), context.DeadlineExceeded.Error())) {
		return fmt.Errorf("%w: %s", context.DeadlineExceeded, st.Message())
	}
	return err
}
