//go:build chaos

// Package chaos injects faults into a running svcnet — kill -9 of the
// server, etcd members killed, quorum lost — and checks what survives:
// no acknowledged write lost, every request ended, readiness honest,
// recovery without help. It drives the built binary and real etcd
// processes on loopback; `make test-chaos` runs it.
package chaos

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/svcnet/svcnet/internal/testutil"
)

var binary string

func TestMain(m *testing.M) { os.Exit(testutil.RunWithBinary(m, &binary)) }

func freeAddr(t *testing.T) string { return testutil.FreeAddr(t) }

// etcdCluster is a real etcd cluster of processes on loopback.
type etcdCluster struct {
	t                    *testing.T
	bin                  string
	names, client, peers []string
	dirs                 []string
	procs                []*exec.Cmd
}

func startEtcdCluster(t *testing.T, n int) *etcdCluster {
	t.Helper()
	bin := testutil.Tool(t, "etcd", "etcd-server")
	c := &etcdCluster{t: t, bin: bin, procs: make([]*exec.Cmd, n)}
	for i := 0; i < n; i++ {
		c.names = append(c.names, fmt.Sprintf("m%d", i))
		c.client = append(c.client, freeAddr(t))
		c.peers = append(c.peers, freeAddr(t))
		c.dirs = append(c.dirs, t.TempDir())
	}
	for i := range c.names {
		c.start(i, "new")
	}
	t.Cleanup(func() {
		for i := range c.procs {
			c.kill(i)
		}
	})
	// Wait for a leader.
	cli := c.cli(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/chaos/ready", "1"); err != nil {
		t.Fatalf("etcd cluster did not elect a leader: %v", err)
	}
	return c
}

func (c *etcdCluster) start(i int, state string) {
	c.t.Helper()
	var initial []string
	for j, name := range c.names {
		initial = append(initial, name+"=http://"+c.peers[j])
	}
	cmd := exec.Command(c.bin, "--name", c.names[i], "--data-dir", c.dirs[i],
		"--listen-client-urls", "http://"+c.client[i], "--advertise-client-urls", "http://"+c.client[i],
		"--listen-peer-urls", "http://"+c.peers[i], "--initial-advertise-peer-urls", "http://"+c.peers[i],
		"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", state,
		"--initial-cluster-token", "chaos", "--log-level", "error")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.procs[i] = cmd
}

// kill ends member i with SIGKILL.
func (c *etcdCluster) kill(i int) {
	if p := c.procs[i]; p != nil {
		_ = p.Process.Kill()
		_ = p.Wait()
		c.procs[i] = nil
	}
}

func (c *etcdCluster) endpoints() string {
	var urls []string
	for _, a := range c.client {
		urls = append(urls, "http://"+a)
	}
	return strings.Join(urls, ",")
}

func (c *etcdCluster) cli(t *testing.T) *clientv3.Client {
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(c.endpoints(), ","), DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// leader is the index of the member that leads now.
func (c *etcdCluster) leader(t *testing.T) int {
	t.Helper()
	cli := c.cli(t)
	for i, a := range c.client {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := cli.Status(ctx, "http://"+a)
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatal("no member leads")
	return -1
}

// svcnet is a running `svcnet server` process.
type svcnet struct {
	t          *testing.T
	cmd        *exec.Cmd
	dataDir    string
	addr       string
	kubeconfig string
	out        *lockedBuffer
	exited     chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startSvcnet runs `svcnet server` with no node, DNS or metrics (the
// tests here are about the API and its storage) and waits until it serves.
func startSvcnet(t *testing.T, dataDir, addr string, extra ...string) *svcnet {
	t.Helper()
	args := append([]string{"server", "--data-dir", dataDir, "--api-addr", addr, "--dns-addr", "", "--metrics-addr", "", "--ingress-addr", "", "--node-name", ""}, extra...)
	s := &svcnet{t: t, dataDir: dataDir, addr: addr, out: &lockedBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(binary, args...)
	stdout, _ := s.cmd.StdoutPipe()
	s.cmd.Stderr = s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(s.out, sc.Text())
			if k, ok := strings.CutPrefix(sc.Text(), "kubeconfig: "); ok {
				ready <- k
			}
		}
	}()
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	select {
	case s.kubeconfig = <-ready:
	case <-s.exited:
		t.Fatalf("svcnet exited before serving:\n%s", s.out)
	case <-time.After(60 * time.Second):
		s.kill()
		t.Fatalf("svcnet did not serve within 60s\n%s", s.out)
	}
	t.Cleanup(s.kill)
	return s
}

// stop ends the server with SIGTERM and expects a clean exit, without
// anything logged at ERROR.
func (s *svcnet) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.kill()
		t.Fatalf("svcnet did not stop within 30s of SIGTERM\n%s", s.out)
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("svcnet exited %d on SIGTERM\n%s", code, s.out)
	}
	if strings.Contains(s.out.String(), "level=ERROR") {
		t.Fatalf("a clean shutdown logged at ERROR:\n%s", s.out)
	}
}

// kill ends the server with SIGKILL.
func (s *svcnet) kill() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *svcnet) client(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	cfg.Timeout = 90 * time.Second // the test's own bound; the server must end requests first
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// health GETs a public health path (/readyz, /livez) and returns the code.
func (s *svcnet) health(path string) (int, string) {
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := c.Get("https://" + s.addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// writer creates Leases one after another and remembers which the API
// acknowledged, and when.
type writer struct {
	mu    sync.Mutex
	acked []string
	times []time.Time
	fails int
}

func lease(name string) *coordinationv1.Lease {
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
}

// run writes until ctx ends or, with stopOnError, until a write fails.
func (w *writer) run(ctx context.Context, c kubernetes.Interface, prefix string, stopOnError bool) {
	for i := 0; ctx.Err() == nil; i++ {
		name := fmt.Sprintf("%s-%d", prefix, i)
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := c.CoordinationV1().Leases("default").Create(rctx, lease(name), metav1.CreateOptions{})
		cancel()
		w.mu.Lock()
		if err == nil {
			w.acked = append(w.acked, name)
			w.times = append(w.times, time.Now())
		} else {
			w.fails++
		}
		w.mu.Unlock()
		if err != nil {
			if stopOnError {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func (w *writer) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// acksAfter counts the writes acknowledged after t.
func (w *writer) acksAfter(t time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, at := range w.times {
		if at.After(t) {
			n++
		}
	}
	return n
}

// longestGapAfter is the longest time without an acknowledged write from
// t on (from t to the first, between two, and from the last to now).
func (w *writer) longestGapAfter(t time.Time) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	prev, gap := t, time.Duration(0)
	for _, at := range append(append([]time.Time(nil), w.times...), time.Now()) {
		if at.Before(t) {
			continue
		}
		gap = max(gap, at.Sub(prev))
		prev = at
	}
	return gap
}

// missing lists the acknowledged Leases the API does not have.
func (w *writer) missing(t *testing.T, c kubernetes.Interface) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := c.CoordinationV1().Leases("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, l := range list.Items {
		have[l.Name] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, n := range w.acked {
		if !have[n] {
			out = append(out, n)
		}
	}
	return out
}
