// Package etcdserver runs a single-member embedded etcd in a data directory.
// It is the only package that imports go.etcd.io/etcd/server.
package etcdserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Config of the embedded member.
type Config struct {
	// Dir holds the member's data (WAL and snapshots).
	Dir string
	// ProgressNotifyInterval is how often watchers get progress events
	// (bookmarks on the API).
	ProgressNotifyInterval time.Duration
}

// Server is an embedded etcd member. New validates; Run starts and blocks.
type Server struct {
	cfg   Config
	log   *slog.Logger
	ready chan struct{}
	url   string
}

// New checks the configuration; it starts nothing.
func New(cfg Config, log *slog.Logger) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("etcdserver: empty data dir")
	}
	if cfg.ProgressNotifyInterval == 0 {
		cfg.ProgressNotifyInterval = 5 * time.Second
	}
	return &Server{cfg: cfg, log: log, ready: make(chan struct{})}, nil
}

// Ready is closed once the member serves clients.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// ClientURL is the URL clients dial; valid after Ready.
func (s *Server) ClientURL() string { return s.url }

// Run starts etcd, closes Ready when it serves, and blocks until ctx ends,
// then stops it.
func (s *Server) Run(ctx context.Context) error {
	ec := embed.NewConfig()
	ec.Name = "svcnet"
	ec.Dir = filepath.Clean(s.cfg.Dir)
	local := func(port string) url.URL { return url.URL{Scheme: "http", Host: "127.0.0.1:" + port} }
	ec.ListenClientUrls = []url.URL{local("0")}
	ec.AdvertiseClientUrls = []url.URL{local("2379")}
	ec.ListenPeerUrls = []url.URL{local("0")}
	// A single member never dials its peers; the advertised URL is only a
	// name kept in the member list, so it must stay the same across restarts.
	ec.AdvertisePeerUrls = []url.URL{{Scheme: "http", Host: "localhost:2380"}}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	// etcd logs its own shutdown at error level; real failures reach Run
	// through e.Err().
	ec.LogLevel = "fatal"
	ec.WatchProgressNotifyInterval = s.cfg.ProgressNotifyInterval
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return fmt.Errorf("start embedded etcd: %w", err)
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return fmt.Errorf("embedded etcd: %w", err)
	case <-ctx.Done():
		e.Server.Stop()
		return nil
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		return errors.New("embedded etcd did not become ready in 60s")
	}
	s.url = "http://" + e.Clients[0].Addr().String()
	s.log.Info("embedded etcd ready", "dir", ec.Dir, "url", s.url)
	close(s.ready)
	select {
	case <-ctx.Done():
		return nil
	case err := <-e.Err():
		return fmt.Errorf("embedded etcd: %w", err)
	}
}
