// Package integration runs svcnet server in-process on an embedded etcd and
// drives it with the real client-go, in protobuf (client-go's default for
// built-in types) and in JSON.
package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/testutil"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcnet/svcnet/internal/apiserver"
	"github.com/svcnet/svcnet/internal/app"
	"github.com/svcnet/svcnet/internal/controller/nodelifecycle"
)

// server is a running svcnet server.
type server struct {
	t       testing.TB
	dataDir string
	started app.Started
	cancel  context.CancelFunc
	done    chan error
}

type serverOpts struct {
	dataDir string
	// etcdOf runs on the embedded etcd of another server.
	etcdOf      *server
	serviceCIDR string
	apiAddr     string
	logTo       io.Writer
	// controllers runs the controller manager and a simulated node named nodeName.
	controllers bool
	nodeName    string
	// limits, when set, replace the API's request limits.
	limits *apiserver.Limits
	// nodes, when set, replaces how failed nodes are noticed.
	nodes *nodelifecycle.Config
	// eventTTL, when set, replaces the hour Events are kept.
	eventTTL time.Duration
}

func startServer(t testing.TB, o serverOpts) *server {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = t.TempDir()
	}
	s, err := launch(o)
	if err != nil {
		t.Fatal(err)
	}
	s.t = t
	t.Cleanup(s.stop)
	return s
}

func launch(o serverOpts) (*server, error) {
	if o.apiAddr == "" {
		o.apiAddr = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{dataDir: o.dataDir, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan app.Started, 1)
	logw, level := io.Writer(io.Discard), "error"
	if o.logTo != nil {
		logw, level = o.logTo, "debug"
	}
	so := app.DefaultServerOptions()
	so.DataDir, so.APIAddr, so.ServiceCIDR, so.LogLevel = o.dataDir, o.apiAddr, o.serviceCIDR, level
	if o.etcdOf != nil {
		// Another server's embedded etcd, with its API server's credentials.
		pki := filepath.Join(o.etcdOf.dataDir, "pki")
		so.EtcdServers = o.etcdOf.started.EtcdURLs[0]
		so.EtcdCAFile, so.EtcdCertFile, so.EtcdKeyFile = filepath.Join(pki, "etcd", "ca.crt"),
			filepath.Join(pki, "apiserver-etcd-client.crt"), filepath.Join(pki, "apiserver-etcd-client.key")
	}
	so.Controllers, so.NodeName, so.LeaseDuration = o.controllers, o.nodeName, 4*time.Second
	so.DNS.Addr, so.MetricsAddr, so.IngressAddr = "", "", "" // the e2e tier tests them
	if o.limits != nil {
		so.Limits = *o.limits
	}
	if o.eventTTL != 0 {
		so.EventTTL = o.eventTTL
	}
	if o.nodes != nil {
		so.Nodes = *o.nodes
		so.Node.LeaseDurationSeconds = 4 // renewed each second, well within a short grace
	}
	go func() { s.done <- app.RunServer(ctx, so, io.Discard, logw, func(st app.Started) { ready <- st }) }()
	select {
	case s.started = <-ready:
		return s, nil
	case err := <-s.done:
		cancel()
		return nil, fmt.Errorf("server exited before it served: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		return nil, errors.New("server did not start within 60s")
	}
}

// shared is one server for the tests that need no server of their own.
var shared *server

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "svcnet-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared, err = launch(serverOpts{dataDir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	shared.cancel()
	<-shared.done
	os.RemoveAll(dir)
	os.Exit(code)
}

// sharedServer hands the shared server to a test.
func sharedServer(t testing.TB) *server {
	s := *shared
	s.t = t
	s.cancel = nil
	return &s
}

// stop shuts the server down and waits for it.
func (s *server) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("server exited with error: %v", err)
		}
	case <-time.After(30 * time.Second):
		s.t.Error("server did not stop within 30s")
	}
}

func (s *server) restConfig(json bool) *rest.Config {
	s.t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.started.Kubeconfig)
	if err != nil {
		s.t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 2000, 4000
	if json {
		cfg.ContentType = "application/json"
		cfg.AcceptContentTypes = "application/json"
	}
	return cfg
}

func (s *server) client(json bool) kubernetes.Interface {
	s.t.Helper()
	c, err := kubernetes.NewForConfig(s.restConfig(json))
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

func (s *server) token() string {
	b, err := os.ReadFile(filepath.Join(s.dataDir, "pki", "admin.token"))
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

// eventually polls f until it returns nil, failing t after d.
func eventually(t testing.TB, d time.Duration, f func() error) {
	t.Helper()
	testutil.Eventually(t, d, "condition", f)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
