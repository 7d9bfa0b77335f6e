package process

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/svcnet/svcnet/internal/pki"
	"github.com/svcnet/svcnet/internal/testutil"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newRuntime(t *testing.T, notify func(ns, name string)) *Runtime {
	t.Helper()
	if notify == nil {
		notify = func(string, string) {}
	}
	r, err := New(Config{Dir: t.TempDir(), Hello: []string{"/bin/hello"}, Notify: notify, BackoffBase: 10 * time.Millisecond, BackoffMax: 40 * time.Millisecond,
		Images: map[string][]string{"redis": {"/usr/bin/redis-server"}, "busybox:1.36": {"/bin/sh"}},
		Env:    func(string) []corev1.EnvVar { return []corev1.EnvVar{{Name: "WEB_SERVICE_HOST", Value: "127.96.0.9"}} },
		Log:    slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func TestCommand(t *testing.T) {
	r := newRuntime(t, nil)
	tests := []struct {
		name string
		c    corev1.Container
		want []string
	}{
		{"no command: hello", corev1.Container{Image: "example/api:1.0"}, []string{"/bin/hello"}},
		{"command and args", corev1.Container{Image: "x", Command: []string{"/bin/sh", "-c"}, Args: []string{"exit 0"}}, []string{"/bin/sh", "-c", "exit 0"}},
		{"mapped image without its tag", corev1.Container{Image: "redis:7.2", Args: []string{"--port", "7000"}}, []string{"/usr/bin/redis-server", "--port", "7000"}},
		{"mapped image with its tag", corev1.Container{Image: "busybox:1.36"}, []string{"/bin/sh"}},
		{"registry port is not a tag", corev1.Container{Image: "reg:5000/redis"}, []string{"/bin/hello"}},
		{"args alone naming a program run it", corev1.Container{Image: "example/tool", Args: []string{"sleep", "5"}}, []string{"sleep", "5"}},
		{"args alone that are flags: the greeter", corev1.Container{Image: "example/api", Args: []string{"--port", "8080"}}, []string{"/bin/hello"}},
		{"args naming no program: the greeter", corev1.Container{Image: "example/api", Args: []string{"no-such-program-here"}}, []string{"/bin/hello"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.command(tc.c); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEnv(t *testing.T) {
	r := newRuntime(t, nil)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api-1", Namespace: "shop", Labels: map[string]string{"app": "api"}}}
	c := corev1.Container{Ports: []corev1.ContainerPort{{ContainerPort: 3000, Protocol: corev1.ProtocolTCP}}, Env: []corev1.EnvVar{
		{Name: "GREETING", Value: "hi $(POD_NAME) at $(WEB_SERVICE_HOST), $(NOPE)"},
		{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
		{Name: "MY_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
	}}
	env, _ := r.env(p, &pod{ip: "127.244.0.7"}, c)
	for _, want := range []string{"POD_NAME=api-1", "POD_NAMESPACE=shop", "POD_IP=127.244.0.7", "WEB_SERVICE_HOST=127.96.0.9",
		"GREETING=hi api-1 at 127.96.0.9, $(NOPE)", "APP=api", "MY_IP=127.244.0.7", "SVCNET_HELLO_PORTS=3000/tcp"} {
		if !slices.Contains(env, want) {
			t.Errorf("missing %s in %v", want, env)
		}
	}
	off := false
	p.Spec.EnableServiceLinks = &off
	if env, _ := r.env(p, &pod{ip: "127.244.0.7"}, corev1.Container{}); slices.Contains(env, "WEB_SERVICE_HOST=127.96.0.9") {
		t.Error("enableServiceLinks: false still gave service variables")
	}
}

func TestBackoff(t *testing.T) {
	r := newRuntime(t, nil)
	c := &container{}
	now := time.Unix(1000, 0)
	var got []time.Duration
	for i := 0; i < 5; i++ {
		r.crashed(c, now)
		got = append(got, c.nextStart.Sub(now))
		now = now.Add(time.Second)
	}
	want := []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Fatalf("back-off %v, want %v", got, want)
	}
}

type buf struct{ bytes.Buffer }

func (*buf) Flush() {}

// TestRunsRestartsAndLogs runs a real process that prints and fails:
// OnFailure restarts it with back-off; its logs and the previous ones are
// served with tail, limit and timestamps.
func TestRunsRestartsAndLogs(t *testing.T) {
	synced := make(chan struct{}, 100)
	r := newRuntime(t, func(string, string) { synced <- struct{}{} })
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "job", Namespace: "ns", UID: "u1"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyOnFailure, Containers: []corev1.Container{{Name: "main", Image: "x",
			Command: []string{"/bin/sh", "-c", "echo one; echo two; echo run $(cat count 2>/dev/null); echo x >> count; exit 3"}, WorkingDir: t.TempDir()}}}}
	ips := []netip.Addr{netip.MustParseAddr("127.244.0.9")}
	var st corev1.PodStatus
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		var wait time.Duration
		st, wait = r.Sync(p, ips, "127.0.0.1", time.Now())
		p.Status = st
		if st.ContainerStatuses[0].RestartCount >= 2 {
			break
		}
		select {
		case <-synced:
		case <-time.After(wait + 50*time.Millisecond):
		}
	}
	cs := st.ContainerStatuses[0]
	if cs.RestartCount < 2 || cs.LastTerminationState.Terminated == nil || cs.LastTerminationState.Terminated.ExitCode != 3 {
		t.Fatalf("status: %+v", cs)
	}
	if st.PodIP != "127.244.0.9" || st.Phase != corev1.PodRunning {
		t.Fatalf("pod status: phase %s ip %s", st.Phase, st.PodIP)
	}
	read := func(o corev1.PodLogOptions) string {
		var b buf
		o.Container = "main"
		if err := r.Logs(context.Background(), "ns", "job", &o, &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	one := int64(1)
	if got := read(corev1.PodLogOptions{Previous: true}); !strings.HasPrefix(got, "one\ntwo\nrun x\n") {
		t.Fatalf("previous log: %q", got)
	}
	if got := read(corev1.PodLogOptions{Previous: true, TailLines: &one}); got != "run x\n" {
		t.Fatalf("tail 1: %q", got)
	}
	five := int64(5)
	if got := read(corev1.PodLogOptions{Previous: true, LimitBytes: &five}); got != "one\nt" {
		t.Fatalf("limit 5: %q", got)
	}
	if got := read(corev1.PodLogOptions{Previous: true, Timestamps: true}); !strings.Contains(got, "Z one\n") {
		t.Fatalf("timestamps: %q", got)
	}
	var b buf
	if err := r.Logs(context.Background(), "ns", "job", &corev1.PodLogOptions{Container: "sidecar"}, &b); err == nil {
		t.Fatal("logs of a container the pod does not have")
	}
	// Stop: nothing left running, the pod forgotten.
	testutil.Eventually(t, 5*time.Second, "the pod to stop", func() error {
		if !r.Stop(p, time.Now()) {
			return errors.New("processes still running")
		}
		return nil
	})
}

// TestStopSendsSIGTERMThenSIGKILL: a process that ignores SIGTERM is killed
// when the grace period ends; preStop runs first.
func TestStopSendsSIGTERMThenSIGKILL(t *testing.T) {
	r := newRuntime(t, nil)
	dir := t.TempDir()
	grace := int64(1)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stubborn", Namespace: "ns", UID: "u2"},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{Name: "main", Image: "x",
			Command:   []string{"/bin/sh", "-c", "trap '' TERM; echo up; while true; do sleep 0.05; done"},
			Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"/bin/sh", "-c", "touch " + filepath.Join(dir, "prestop")}}}}}}}}
	ips := []netip.Addr{netip.MustParseAddr("127.244.0.10")}
	st, _ := r.Sync(p, ips, "127.0.0.1", time.Now())
	if st.ContainerStatuses[0].State.Running == nil {
		t.Fatalf("not running: %+v", st.ContainerStatuses[0])
	}
	// The shell prints "up" once its trap is set.
	testutil.Eventually(t, 5*time.Second, "the process to say up", func() error {
		var out buf
		_ = r.Logs(context.Background(), "ns", "stubborn", &corev1.PodLogOptions{Container: "main"}, &out)
		if !strings.Contains(out.String(), "up") {
			return fmt.Errorf("log so far: %q", out.String())
		}
		return nil
	})
	start := time.Now()
	for !r.Stop(p, time.Now()) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("not stopped")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("stopped after %s: SIGTERM was not ignored, or the grace period was not waited", d)
	}
	if _, err := os.Stat(filepath.Join(dir, "prestop")); err != nil {
		t.Fatal("preStop did not run")
	}
}

func TestSeekTail(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("a\nb\nc\n")
	for n, want := range map[int64]string{0: "", 1: "c\n", 2: "b\nc\n", 3: "a\nb\nc\n", 9: "a\nb\nc\n"} {
		if err := seekTail(f, n); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(f)
		if string(rest) != want {
			t.Errorf("tail %d: %q, want %q", n, rest, want)
		}
	}
}

func TestLogServerTakesOnlyTheAPIServer(t *testing.T) {
	r := newRuntime(t, nil)
	creds, err := pki.LoadOrCreate(t.TempDir(), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	serving, err := creds.NodeServing("n", []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ls, err := r.ListenLogs("127.0.0.1:0", ServerTLS{Cert: serving, ClientCA: creds.CAPool(), Caller: pki.KubeletClientName})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = ls.Run(ctx) }()
	base := "https://127.0.0.1:" + strconv.Itoa(int(ls.Port())) + "/containerLogs/ns/pod/c"
	adminCert, err := tls.X509KeyPair(creds.AdminCertPEM, creds.AdminKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: creds.CAPool(), Certificates: certs}}}
	}
	for name, tc := range map[string]struct {
		c    *http.Client
		want int // 0: the TLS handshake fails
	}{
		"no client certificate":                 {client(), 0},
		"another certificate of the cluster CA": {client(adminCert), http.StatusForbidden},
		"the API server's kubelet-client":       {client(creds.KubeletClient), http.StatusNotFound},
	} {
		resp, err := tc.c.Get(base)
		if tc.want == 0 {
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: let in with %d", name, resp.StatusCode)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, tc.want)
		}
	}
	if resp, err := http.Get(strings.Replace(base, "https", "http", 1)); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest { // Go's "Client sent an HTTP request to an HTTPS server."
			t.Errorf("plain HTTP: %d", resp.StatusCode)
		}
	}
	// Options it cannot read or that kube-apiserver would refuse: 400.
	for _, q := range []string{"tailLines=x", "tailLines=-1", "limitBytes=0", "follow=perhaps"} {
		resp, err := client(creds.KubeletClient).Get(base + "?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, resp.StatusCode)
		}
	}
}

// Follow streams a running container's output until it exits.
func TestLogsFollow(t *testing.T) {
	synced := make(chan struct{}, 100)
	r := newRuntime(t, func(string, string) { synced <- struct{}{} })
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "tick", Namespace: "ns", UID: "u3"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "main", Image: "x",
			Command: []string{"/bin/sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.2; done"}}}}}
	r.Sync(p, []netip.Addr{netip.MustParseAddr("127.244.0.11")}, "127.0.0.1", time.Now())
	var b buf
	start := time.Now()
	if err := r.Logs(context.Background(), "ns", "tick", &corev1.PodLogOptions{Container: "main", Follow: true}, &b); err != nil {
		t.Fatal(err)
	}
	if b.String() != "tick 1\ntick 2\ntick 3\n" || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("followed %q in %s", b.String(), time.Since(start))
	}
}

func TestCappedWriterStartsOver(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	w := &cappedWriter{f: f, limit: 10}
	for _, s := range []string{"12345\n", "abcde\n", "xy\n"} {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := os.ReadFile(f.Name())
	if string(got) != "abcde\nxy\n" {
		t.Fatalf("kept %q", got)
	}
}

// A pod that ran under an earlier agent restarts its containers, counted.
func TestRestartCountSurvivesTheAgent(t *testing.T) {
	r := newRuntime(t, nil)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "ns", UID: "u4"},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "x", Command: []string{"/bin/sh", "-c", "sleep 5"}}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "main", RestartCount: 2, ContainerID: "process://1"}}}}
	st, _ := r.Sync(p, []netip.Addr{netip.MustParseAddr("127.244.0.12")}, "127.0.0.1", time.Now())
	if cs := st.ContainerStatuses[0]; cs.RestartCount != 3 || cs.State.Running == nil {
		t.Fatalf("status: %+v", cs)
	}
}

func TestEnvFromConfigMapsAndSecrets(t *testing.T) {
	r := newRuntime(t, nil)
	store := map[string]map[string]string{
		"ConfigMap/settings": {"MODE": "fast", "LEVEL": "3"},
		"Secret/creds":       {"password": "s3cret"},
	}
	r.cfg.Source = func(ns, kind, name string) (map[string]string, bool, error) {
		d, ok := store[kind+"/"+name]
		return d, ok, nil
	}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "shop"}}
	yes := true
	cases := []struct {
		name    string
		c       corev1.Container
		want    []string
		wantErr string
	}{
		{"envFrom with a prefix, then env (which wins)", corev1.Container{
			EnvFrom: []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
			Env: []corev1.EnvVar{{Name: "CFG_MODE", Value: "slow"},
				{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "password"}}},
				{Name: "LEVEL", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "LEVEL"}}}}},
			[]string{"CFG_MODE=slow", "CFG_LEVEL=3", "DB_PASSWORD=s3cret", "LEVEL=3"}, ""},
		{"a missing ConfigMap", corev1.Container{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}},
			nil, `configmap "nope" not found`},
		{"a missing optional one", corev1.Container{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: &yes}}}},
			[]string{"POD_NAME=app"}, ""},
		{"a missing key", corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}, Key: "user"}}}}},
			nil, "couldn't find key user in Secret shop/creds"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env, err := r.env(p, &pod{ip: "127.244.0.7"}, tc.c)
			if tc.wantErr != "" {
				var ce *configError
				if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want a configError %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !slices.Contains(env, w) {
					t.Errorf("missing %s in %v", w, env)
				}
			}
		})
	}
}

// TestExpand: $(VAR) expands as Kubernetes expands env values, command and
// args; everything else a shell may want stays as written.
func TestExpand(t *testing.T) {
	vars := map[string]string{"POD_IP": "10.244.0.7", "PORT": "80"}
	for in, want := range map[string]string{
		"--addr=$(POD_IP):$(PORT)": "--addr=10.244.0.7:80",
		"$(NOPE) stays":            "$(NOPE) stays",
		"$$(POD_IP) is escaped":    "$(POD_IP) is escaped",
		"echo $HOME (and more)":    "echo $HOME (and more)",
		"cost: $5":                 "cost: $5",
		"unclosed $(POD_IP":        "unclosed $(POD_IP",
		"trailing $":               "trailing $",
		"no dollars (here)":        "no dollars (here)",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
	if got := expandArgs([]string{"sh", "-c", "echo $(POD_IP) $HOSTNAME"}, []string{"POD_IP=1.2.3.4", "A=b=c"}); got[2] != "echo 1.2.3.4 $HOSTNAME" {
		t.Errorf("expandArgs: %q", got)
	}
}
