// Package etcdserver runs a single-member embedded etcd in a data directory,
// on loopback, over TLS that requires a client certificate of its own CA.
// It is the only package that imports go.etcd.io/etcd/server.
package etcdserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
)

// Config of the embedded member.
type Config struct {
	// Dir holds the member's data (WAL and snapshots).
	Dir string
	// ProgressNotifyInterval is how often watchers get progress events
	// (bookmarks on the API).
	ProgressNotifyInterval time.Duration
	// CAFile, CertFile and KeyFile: the member serves clients and its peer
	// port with this certificate and takes only clients (and peers) whose
	// certificate the CA signed.
	CAFile, CertFile, KeyFile string
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
	if cfg.CAFile == "" || cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New("etcdserver: no TLS credentials")
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
	// The client port is chosen now, so the member advertises the address
	// it listens on.
	port, err := freeLoopbackPort()
	if err != nil {
		return err
	}
	client := url.URL{Scheme: "https", Host: "127.0.0.1:" + port}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	tlsInfo := transport.TLSInfo{CertFile: s.cfg.CertFile, KeyFile: s.cfg.KeyFile, TrustedCAFile: s.cfg.CAFile, ClientCertAuth: true}
	ec.ClientTLSInfo, ec.PeerTLSInfo = tlsInfo, tlsInfo
	ec.ListenPeerUrls = []url.URL{{Scheme: "https", Host: "127.0.0.1:0"}}
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
	s.url = "https://" + e.Clients[0].Addr().String()
	s.log.Info("embedded etcd ready", "dir", ec.Dir, "url", s.url)
	close(s.ready)
	select {
	case <-ctx.Done():
		return nil
	case err := <-e.Err():
		return fmt.Errorf("embedded etcd: %w", err)
	}
}

// freeLoopbackPort finds a free TCP port on 127.0.0.1.
func freeLoopbackPort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}
