package process

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcnet/svcnet/internal/poddns"
	"github.com/svcnet/svcnet/internal/testutil"
)

// TestMain lets the test binary be `svcnet pod-init` for the runtime's
// containers: started with SVCNET_TEST_POD_INIT=1 it runs PodInit.
func TestMain(m *testing.M) {
	if dir := os.Getenv("SVCNET_TEST_AGENT_DIR"); dir != "" {
		runTestAgent(dir) // never returns
	}
	if os.Getenv("SVCNET_TEST_POD_INIT") == "1" {
		// A large Go program (svcnet) may exec from any of its threads:
		// here always from one the process did not start on.
		runtime.LockOSThread()
		done := make(chan error)
		go func() {
			p, err := ParsePodInit(os.Args[1:])
			if err == nil {
				err = p.Run()
			}
			done <- err
		}()
		os.Stderr.WriteString((<-done).Error() + "\n")
		os.Exit(2)
	}
	os.Exit(m.Run())
}

func TestPodInitArgs(t *testing.T) {
	p := PodInit{ResolvConf: "/d/resolv.conf", Hosts: "/d/hosts", Hostname: "web-0", Argv: []string{"sh", "-c", "echo --hosts"},
		Mounts: []Mount{{Source: "/d/volumes/web", Target: "/etc/web"}, {Source: "/d/volumes/creds", Target: "/etc/creds", ReadOnly: true}}}
	got, err := ParsePodInit(p.Args())
	if err != nil || got.ResolvConf != p.ResolvConf || got.Hosts != p.Hosts || got.Hostname != p.Hostname || !slices.Equal(got.Argv, p.Argv) ||
		!slices.Equal(got.Mounts, p.Mounts) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for _, bad := range [][]string{{"--hosts"}, {"--resolv-conf", "x"}, {"--"}, {"--bogus", "x", "--", "sh"},
		{"--mount", "relative=/x", "--", "sh"}, {"--mount-ro", "/x", "--", "sh"}, {"--mount"}} {
		if _, err := ParsePodInit(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestBusyboxImages(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatal("busybox is not installed (apt-get install busybox; .ci/run installs it)")
	}
	r, err := New(Config{Dir: t.TempDir(), Hello: []string{"/bin/hello"}, Notify: func(string, string) {}, Busybox: bb,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	applet := func(name string) string { return filepath.Join(r.appletDir, name) }
	cases := []struct {
		image string
		cmd   []string
		args  []string
		want  []string
	}{
		{"busybox", nil, nil, []string{applet("sh")}},
		{"busybox:1.28.3", []string{"/bin/sh"}, nil, []string{applet("sh")}},
		{"docker.io/library/busybox@sha256:abc", nil, []string{"sleep", "5"}, []string{applet("sleep"), "5"}},
		{"busybox:latest", []string{"sh", "-c"}, []string{"nslookup x"}, []string{applet("sh"), "-c", "nslookup x"}},
		{"busybox", []string{"/opt/tool"}, nil, []string{"/opt/tool"}},
		{"registry.example:5000/busybox-extra", nil, nil, []string{"/bin/hello"}},
	}
	for _, tc := range cases {
		if got := r.command(corev1.Container{Image: tc.image, Command: tc.cmd, Args: tc.args}); !slices.Equal(got, tc.want) {
			t.Errorf("%s %q %q: %q, want %q", tc.image, tc.cmd, tc.args, got, tc.want)
		}
	}
	if target, err := os.Readlink(applet("nslookup")); err != nil || target != bb {
		t.Fatalf("nslookup applet: %q, %v", target, err)
	}
	// Applets and pod files are named absolutely: busybox containers start
	// in /, whatever the runtime's directory was given as.
	t.Chdir(t.TempDir())
	rel, err := New(Config{Dir: "data", Hello: []string{"/bin/hello"}, Notify: func(string, string) {}, Busybox: bb,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if got := rel.command(corev1.Container{Image: "busybox"}); !filepath.IsAbs(got[0]) {
		t.Fatalf("a relative data dir gives %q", got)
	}
}

// TestContainerSeesItsPodsFiles: as root, a container runs in mount and UTS
// namespaces of its own where /etc/resolv.conf and /etc/hosts are its
// pod's and its hostname is the pod's; the host's files are untouched.
func TestContainerSeesItsPodsFiles(t *testing.T) {
	if detectNamespaces() == nsNone {
		t.Fatal("needs root or unprivileged user namespaces for mount and UTS namespaces; CI runs as root")
	}
	if os.Getenv("SVCNET_TEST_WANT_NS") == "user" && detectNamespaces() != nsUser {
		t.Fatalf("as uid %d: namespaces %v, want user namespaces", os.Getuid(), detectNamespaces())
	}
	hostResolv, _ := os.ReadFile("/etc/resolv.conf")
	hostName, _ := os.Hostname()
	synced := make(chan struct{}, 10)
	dir := t.TempDir()
	r, err := New(Config{Dir: dir, Hello: []string{"/bin/hello"}, Notify: func(string, string) { synced <- struct{}{} },
		PodInit: []string{"/usr/bin/env", "SVCNET_TEST_POD_INIT=1", os.Args[0]},
		DNS: func() poddns.Cluster {
			return poddns.Cluster{Servers: []string{"127.96.0.10"}, Domain: "cluster.local"}
		},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop", UID: "u-files"},
		Spec: corev1.PodSpec{Hostname: "web-0", Subdomain: "nginx", RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "main", Image: "x", Command: []string{"/bin/sh", "-c", "cat /etc/resolv.conf /etc/hosts; hostname"}}}}}
	r.Sync(p, []netip.Addr{netip.MustParseAddr("127.244.0.30")}, "127.0.0.1", time.Now())
	var out buf
	testutil.Eventually(t, 10*time.Second, "the container to finish", func() error {
		out = buf{}
		if err := r.Logs(t.Context(), "shop", "web-0", &corev1.PodLogOptions{Container: "main", Previous: false}, &out); err != nil {
			return err
		}
		if !strings.Contains(out.String(), "web-0\n") || !strings.HasSuffix(out.String(), "\n") {
			return errorString("log so far: " + out.String())
		}
		return nil
	})
	for _, want := range []string{"nameserver 127.96.0.10\n", "search shop.svc.cluster.local svc.cluster.local cluster.local", "options ndots:5\n",
		"127.244.0.30\tweb-0.nginx.shop.svc.cluster.local\tweb-0\n"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("the container saw no %q:\n%s", want, out.String())
		}
	}
	if !strings.HasSuffix(out.String(), "web-0\n") {
		t.Fatalf("hostname is not the pod's:\n%s", out.String())
	}
	if b, _ := os.ReadFile("/etc/resolv.conf"); string(b) != string(hostResolv) {
		t.Fatal("the host's /etc/resolv.conf changed")
	}
	if h, _ := os.Hostname(); h != hostName {
		t.Fatalf("the host's name changed to %q", h)
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// runTestAgent is a stand-in agent (the test binary again): it runs one pod
// through pod-init whose container writes its PID to dir/pid, then waits
// to be killed.
func runTestAgent(dir string) {
	r, err := New(Config{Dir: dir, Hello: []string{"/bin/hello"}, Notify: func(string, string) {},
		PodInit: []string{"/usr/bin/env", "SVCNET_TEST_AGENT_DIR=", "SVCNET_TEST_POD_INIT=1", os.Args[0]},
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: "ns", UID: "u-orphan"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "x",
			Command: []string{"/bin/sh", "-c", "echo $$$$ > " + filepath.Join(dir, "pid.tmp") + " && mv " + filepath.Join(dir, "pid.tmp") + " " + filepath.Join(dir, "pid") + " && exec sleep 60"}}}}}
	r.Sync(p, []netip.Addr{netip.MustParseAddr("127.244.0.31")}, "127.0.0.1", time.Now())
	select {}
}

// TestContainersDieWithTheAgent: a container started through pod-init
// (its own namespaces) ends when the agent is killed, as one started
// directly does: the parent-death signal survives pod-init's exec.
func TestContainersDieWithTheAgent(t *testing.T) {
	if detectNamespaces() == nsNone {
		t.Fatal("needs root or unprivileged user namespaces for mount and UTS namespaces; CI runs as root")
	}
	dir := t.TempDir()
	agent := exec.Command(os.Args[0], "-test.run=^$")
	agent.Env = append(os.Environ(), "SVCNET_TEST_AGENT_DIR="+dir)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	testutil.Eventually(t, 10*time.Second, "the container to start", func() error {
		b, err := os.ReadFile(filepath.Join(dir, "pid"))
		if err != nil {
			return err
		}
		_, err = fmt.Sscan(string(b), &pid)
		return err
	})
	if err := agent.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = agent.Wait()
	testutil.Eventually(t, 5*time.Second, "the container to die with the agent", func() error {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); strings.Contains(string(b), ") Z ") {
			return nil // dead, not yet reaped by init
		}
		return fmt.Errorf("process %d is still running", pid)
	})
}

// TestContainerSeesItsPodsFilesWithoutRoot: an agent that is not root
// gives its containers their pod's files and hostname through a user
// namespace of their own. As root, the test runs itself again as nobody.
func TestContainerSeesItsPodsFilesWithoutRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("becomes nobody to test the unprivileged path, which needs root; CI runs as root (not root, TestContainerSeesItsPodsFiles tests that path)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("setpriv (util-linux) is not installed")
	}
	dir, err := os.MkdirTemp("", "svcnet-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o777); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	_ = os.Chmod(tmp, 0o777)
	bin := filepath.Join(dir, "process.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin, "-test.run=^TestContainerSeesItsPodsFiles$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "SVCNET_TEST_WANT_NS=user", "TMPDIR="+tmp, "HOME="+tmp, "GOCOVERDIR=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestContainerSeesItsPodsFiles") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
}
