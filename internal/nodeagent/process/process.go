// Package process is the node agent's process runtime: each container of a
// pod runs as a local process (its own process group) with the pod's IP in
// its environment, probes decide readiness and liveness, exits restart with
// Kubernetes' back-off, and output is kept per container for `kubectl logs`.
// Images are not pulled: an image maps to a command (--image-map), and one
// with no command runs `svcnet hello`.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/svcnet/svcnet/internal/nodeagent"
	"github.com/svcnet/svcnet/internal/poddns"
)

// Config of the runtime.
type Config struct {
	// Dir holds the containers' logs.
	Dir string
	// Hello is the command an image without a command runs (svcnet hello).
	Hello []string
	// Echo is what the Gateway API conformance suite's echo-basic image
	// runs (svcnet echo), unless the image map says otherwise.
	Echo []string
	// Images maps an image name (without tag, or with) to a command.
	Images map[string][]string
	// BackoffBase is the first restart delay after the first quick restart
	// (Kubernetes: 10s), doubling up to BackoffMax (300s).
	BackoffBase, BackoffMax time.Duration
	// LogLimit caps each container's kept output, bytes.
	LogLimit int64
	// Notify asks the agent to sync a pod again (a process exited, a probe
	// changed its mind).
	Notify func(namespace, name string)
	// Env returns the service environment variables of a namespace.
	Env func(namespace string) []corev1.EnvVar
	// Source reads the data of a ConfigMap or Secret (kind) a container's
	// env names; found false when it does not exist.
	Source func(namespace, kind, name string) (data map[string]string, found bool, err error)
	// Claim is the directory of the volume bound to a PersistentVolumeClaim;
	// an error while it is not bound (the container waits).
	Claim func(namespace, claim string) (dir string, err error)
	// Event posts an event about a pod (probe failures: Unhealthy, and the
	// Killing of a container a probe restarts); nil posts none.
	Event func(p *corev1.Pod, eventType, reason, message string)
	// Token is a service account token for the pod (its ServiceAccount,
	// bound to it) for a projected volume.
	Token func(p *corev1.Pod, audiences []string, expirationSeconds int64) (string, error)
	// PodInit starts a container in mount and UTS namespaces of its own
	// (`svcnet pod-init`), where it sees its pod's resolv.conf, hosts and
	// hostname: as root, or in a user namespace where the kernel allows
	// unprivileged ones. nil (or neither) runs containers in the host's,
	// with the pod's search path in LOCALDOMAIN and RES_OPTIONS.
	PodInit []string
	// DNS is what the node knows of the cluster's DNS (nil: nothing, and
	// pods resolve as the host does).
	DNS func() poddns.Cluster
	// Busybox is the host's busybox: containers of images named busybox
	// run its applets ("": none found).
	Busybox string
	// Nslookup128, when set, is a program that, run as `nslookup`, prints
	// as busybox 1.28's did (svcnet itself): busybox:1.27 and 1.28 images
	// run it instead of the host's newer nslookup.
	Nslookup128 string
	Log         *slog.Logger
}

// Runtime runs pods as processes.
type Runtime struct {
	cfg  Config
	mu   sync.Mutex
	pods map[types.UID]*pod
	// ns: how containers get mount and UTS namespaces (with PodInit).
	ns nsMode
	// appletDir holds a link per busybox applet (applets), for busybox images.
	appletDir string
	// oldAppletDir holds the applets that differ in busybox 1.28 and
	// before (nslookup), ahead of appletDir for those images.
	oldAppletDir string
	applets      map[string]bool
}

// New makes a runtime; it starts nothing until a pod is synced.
func New(cfg Config) (*Runtime, error) {
	if cfg.Dir == "" || len(cfg.Hello) == 0 || cfg.Notify == nil {
		return nil, fmt.Errorf("process runtime: Dir, Hello and Notify are required")
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = 10 * time.Second
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 300 * time.Second
	}
	if cfg.LogLimit == 0 {
		cfg.LogLimit = 10 << 20
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	// Absolute: containers start in directories of their own, and their
	// pod's files and busybox's applets are named from there.
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	r := &Runtime{cfg: cfg, pods: map[types.UID]*pod{}}
	if len(cfg.PodInit) > 0 {
		r.ns = detectNamespaces()
	}
	if cfg.Busybox != "" {
		dir, applets, err := linkApplets(cfg.Busybox, filepath.Join(cfg.Dir, "busybox-bin"))
		if err != nil {
			return nil, fmt.Errorf("process runtime: busybox: %w", err)
		}
		r.appletDir, r.applets = dir, applets
		if cfg.Nslookup128 != "" {
			old := filepath.Join(cfg.Dir, "busybox-1.28-bin")
			if err := os.MkdirAll(old, 0o755); err != nil {
				return nil, err
			}
			link := filepath.Join(old, "nslookup")
			_ = os.Remove(link)
			if err := os.Symlink(cfg.Nslookup128, link); err != nil {
				return nil, fmt.Errorf("process runtime: busybox 1.28 nslookup: %w", err)
			}
			r.oldAppletDir = old
		}
	}
	switch {
	case len(cfg.PodInit) > 0 && r.ns == nsNone:
		cfg.Log.Warn("neither root nor unprivileged user namespaces: containers share the host's /etc/resolv.conf, /etc/hosts " +
			"and hostname; they get the pod's DNS search path in LOCALDOMAIN and RES_OPTIONS only")
	case r.ns == nsUser:
		cfg.Log.Info("not root: containers run in user namespaces of their own, as root there, to see their pods' files and hostnames")
	}
	return r, nil
}

// pod is what the runtime knows of one pod.
type pod struct {
	ns, name string
	uid      types.UID
	dir      string
	ip       string
	ips      []string
	// pod is the pod as last synced.
	pod *corev1.Pod
	// resolv is the pod's resolv.conf as last written.
	resolv   *poddns.ResolvConf
	started  time.Time
	stopping bool
	ctrs     map[string]*container
}

// container is one container's processes over its restarts.
type container struct {
	spec corev1.Container
	// succeeded: an init container completed (it is not run again).
	succeeded bool
	restarts  int32
	cmd       *exec.Cmd
	pid       int
	running   bool
	started   time.Time // of the current process
	exited    chan struct{}
	// io wires the current process to attached clients.
	io *stdio
	// mounts are the current process's volumes (exec binds them too).
	mounts []Mount
	// last termination
	last      *corev1.ContainerStateTerminated
	lastCrash time.Time
	backoff   time.Duration
	nextStart time.Time
	// probes
	ready, startedOK bool
	probeCancel      context.CancelFunc
	waitingReason    string
	waitingMessage   string
}

// Sync starts what should run and returns the pod's status; wait > 0 asks
// for another Sync then (a back-off ending).
func (r *Runtime) Sync(p *corev1.Pod, ips []netip.Addr, hostIP string, now time.Time) (corev1.PodStatus, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := r.pods[p.UID]
	if ps == nil {
		ps = &pod{ns: p.Namespace, name: p.Name, uid: p.UID, ip: ips[0].String(), started: now, ctrs: map[string]*container{},
			ips: addrStrings(ips),
			dir: filepath.Join(r.cfg.Dir, p.Namespace+"_"+p.Name+"_"+string(p.UID))}
		if p.Status.StartTime != nil {
			ps.started = p.Status.StartTime.Time
		}
		r.pods[p.UID] = ps
	}
	ps.pod = p
	var wait time.Duration
	initialized, failed := r.syncInit(p, ps, now, &wait)
	if !initialized {
		for _, spec := range p.Spec.Containers {
			if ps.ctrs[spec.Name] == nil {
				ps.ctrs[spec.Name] = &container{spec: spec, waitingReason: "PodInitializing"}
			}
		}
		st := r.status(p, ps, ips, hostIP, now)
		if failed {
			st.Phase = corev1.PodFailed
		}
		return st, wait
	}
	for _, spec := range p.Spec.Containers {
		c := ps.ctrs[spec.Name]
		if c == nil {
			c = &container{spec: spec}
			// A container that ran under an earlier agent (its processes
			// ended with it) starts again as a restart.
			for _, old := range p.Status.ContainerStatuses {
				if old.Name == spec.Name && old.ContainerID != "" {
					c.restarts = old.RestartCount + 1
				}
			}
			ps.ctrs[spec.Name] = c
		}
		if c.waitingReason == "PodInitializing" {
			c.waitingReason = ""
		}
		if c.running || ps.stopping {
			continue
		}
		if c.cmd != nil && !r.shouldRestart(p, c) {
			continue
		}
		if now.Before(c.nextStart) {
			c.waitingReason = "CrashLoopBackOff"
			c.waitingMessage = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", c.backoff.Round(time.Second), spec.Name, p.Name, p.Namespace, p.UID)
			if d := c.nextStart.Sub(now); wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		if c.cmd != nil {
			c.restarts++
		}
		if err := r.start(p, ps, c, now); err != nil {
			c.waitingReason, c.waitingMessage = "RunContainerError", err.Error()
			var ce *configError
			var ve *volumeError
			switch {
			case errors.As(err, &ve):
				// Not a crash: the volume is awaited, and tried again soon.
				c.waitingReason = "ContainerCreating"
				if c.cmd != nil {
					c.restarts--
				}
				if wait == 0 || volumeRetry < wait {
					wait = volumeRetry
				}
				continue
			case errors.As(err, &ce):
				c.waitingReason = "CreateContainerConfigError"
			}
			r.crashed(c, now)
			if d := c.nextStart.Sub(now); wait == 0 || d < wait {
				wait = d
			}
		}
	}
	return r.status(p, ps, ips, hostIP, now), wait
}

func (r *Runtime) shouldRestart(p *corev1.Pod, c *container) bool {
	switch p.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return c.last != nil && c.last.ExitCode != 0
	}
	return true
}

// crashed sets the next start: the first restart at once, then the back-off
// doubling from BackoffBase; ten minutes of running resets it.
func (r *Runtime) crashed(c *container, now time.Time) {
	if !c.started.IsZero() && now.Sub(c.started) > 10*time.Minute {
		c.backoff = 0
	}
	switch {
	case c.lastCrash.IsZero():
		c.backoff = 0
	case c.backoff == 0:
		c.backoff = r.cfg.BackoffBase
	default:
		c.backoff = min(2*c.backoff, r.cfg.BackoffMax)
	}
	c.lastCrash = now
	c.nextStart = now.Add(c.backoff)
}

// command is what a container runs: its command and args, the image map's
// command, or svcnet hello.
func (r *Runtime) command(spec corev1.Container) []string {
	if r.isBusybox(spec.Image) {
		return r.busyboxCommand(spec)
	}
	base := spec.Command
	if len(base) == 0 {
		img := spec.Image
		if cmd, ok := r.cfg.Images[img]; ok {
			base = cmd
		} else if i := strings.LastIndexAny(img, ":@"); i > 0 && !strings.Contains(img[i:], "/") {
			base = r.cfg.Images[img[:i]]
		}
	}
	if len(base) == 0 && len(r.cfg.Echo) > 0 && isEchoBasic(spec.Image) {
		base = r.cfg.Echo
	}
	if len(base) == 0 {
		// An image not mapped: args alone that name a program run as given
		// (an image without an entrypoint); anything else is the greeter.
		if len(spec.Args) > 0 && !strings.HasPrefix(spec.Args[0], "-") {
			if _, err := exec.LookPath(spec.Args[0]); err == nil {
				return append([]string(nil), spec.Args...)
			}
		}
		return r.cfg.Hello
	}
	return append(append([]string(nil), base...), spec.Args...)
}

// configError is a container's configuration that cannot be read (a
// ConfigMap or Secret missing): CreateContainerConfigError, as a kubelet says.
type configError struct{ err error }

func (e *configError) Error() string { return e.err.Error() }

// env is the container's environment: POD_NAME, POD_NAMESPACE, POD_IP, the
// namespace's service variables, then the container's own (later wins):
// envFrom first, then env, each value as given, from a field of the pod, or
// from a key of a ConfigMap or Secret.
func (r *Runtime) env(p *corev1.Pod, ps *pod, spec corev1.Container) ([]string, error) {
	vars := map[string]string{"POD_NAME": p.Name, "POD_NAMESPACE": p.Namespace, "POD_IP": ps.ip, "HOSTNAME": poddns.Hostname(p),
		"PATH": os.Getenv("PATH"), "HOME": os.Getenv("HOME")}
	if r.isBusybox(spec.Image) {
		vars["PATH"] = r.appletDir + ":" + vars["PATH"]
		if r.oldBusybox(spec.Image) {
			vars["PATH"] = r.oldAppletDir + ":" + vars["PATH"]
		}
	}
	if r.ns == nsNone && ps.resolv != nil {
		// Without a resolv.conf of its own, the pod's search path and
		// options still reach resolvers that read these (glibc's).
		vars["LOCALDOMAIN"] = strings.Join(ps.resolv.Searches, " ")
		vars["RES_OPTIONS"] = strings.Join(ps.resolv.Options, " ")
	}
	var ports []string
	for _, cp := range spec.Ports {
		ports = append(ports, fmt.Sprintf("%d/%s", cp.ContainerPort, strings.ToLower(string(cp.Protocol))))
	}
	vars["SVCNET_HELLO_PORTS"] = strings.Join(ports, ",")
	if r.cfg.Env != nil && (p.Spec.EnableServiceLinks == nil || *p.Spec.EnableServiceLinks) {
		for _, e := range r.cfg.Env(p.Namespace) {
			vars[e.Name] = e.Value
		}
	}
	source := func(kind, name string, optional *bool) (map[string]string, error) {
		if r.cfg.Source == nil {
			return nil, &configError{fmt.Errorf("%s %q: this node reads no %ss", strings.ToLower(kind), name, kind)}
		}
		data, found, err := r.cfg.Source(p.Namespace, kind, name)
		if err != nil {
			return nil, &configError{err}
		}
		if !found && (optional == nil || !*optional) {
			return nil, &configError{fmt.Errorf("%s %q not found", strings.ToLower(kind), name)}
		}
		return data, nil
	}
	for _, from := range spec.EnvFrom {
		var data map[string]string
		var err error
		switch {
		case from.ConfigMapRef != nil:
			data, err = source("ConfigMap", from.ConfigMapRef.Name, from.ConfigMapRef.Optional)
		case from.SecretRef != nil:
			data, err = source("Secret", from.SecretRef.Name, from.SecretRef.Optional)
		}
		if err != nil {
			return nil, err
		}
		for k, v := range data {
			vars[from.Prefix+k] = v
		}
	}
	for _, e := range spec.Env {
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = expand(e.Value, vars)
		case e.ValueFrom.FieldRef != nil:
			vars[e.Name] = fieldRef(p, ps, e.ValueFrom.FieldRef.FieldPath)
		case e.ValueFrom.ConfigMapKeyRef != nil, e.ValueFrom.SecretKeyRef != nil:
			kind, name, key, optional := "ConfigMap", "", "", (*bool)(nil)
			if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
				name, key, optional = ref.Name, ref.Key, ref.Optional
			} else {
				ref := e.ValueFrom.SecretKeyRef
				kind, name, key, optional = "Secret", ref.Name, ref.Key, ref.Optional
			}
			data, err := source(kind, name, optional)
			if err != nil {
				return nil, err
			}
			v, ok := data[key]
			if !ok && (optional == nil || !*optional) {
				return nil, &configError{fmt.Errorf("couldn't find key %s in %s %s/%s", key, kind, p.Namespace, name)}
			}
			if ok {
				vars[e.Name] = v
			}
		}
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out, nil
}

// expandArgs expands $(VAR) in a container's command and args with its
// environment (NAME=value entries).
func expandArgs(argv, env []string) []string {
	vars := make(map[string]string, len(env))
	for _, e := range env {
		if k, v, ok := strings.Cut(e, "="); ok {
			vars[k] = v
		}
	}
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = expand(a, vars)
	}
	return out
}

// expand replaces $(VAR) with the variable's value, as Kubernetes expands
// env values, command and args: $$ is a literal $, an unknown $(VAR) and
// every other $ stay as written (a shell's $HOME is left to the shell).
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteByte(s[i])
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func fieldRef(p *corev1.Pod, ps *pod, path string) string {
	switch path {
	case "metadata.name":
		return p.Name
	case "metadata.namespace":
		return p.Namespace
	case "metadata.uid":
		return string(p.UID)
	case "spec.nodeName":
		return p.Spec.NodeName
	case "spec.serviceAccountName":
		return p.Spec.ServiceAccountName
	case "status.podIP":
		return ps.ip
	case "status.hostIP":
		return p.Status.HostIP
	}
	if k, ok := strings.CutPrefix(path, "metadata.labels['"); ok {
		return p.Labels[strings.TrimSuffix(k, "']")]
	}
	if k, ok := strings.CutPrefix(path, "metadata.annotations['"); ok {
		return p.Annotations[strings.TrimSuffix(k, "']")]
	}
	return ""
}

// inPod is how argv runs as a process of pod p: in its own process group
// (signals reach its children), dying with the agent, and as root through
// pod-init in mount and UTS namespaces that show the pod's files (written
// now), the container's volumes at their mountPaths, and the pod's hostname
// (as root, or in a user namespace of its own).
func (r *Runtime) inPod(p *corev1.Pod, ps *pod, argv []string, mounts []Mount) ([]string, *syscall.SysProcAttr, error) {
	pinit, err := r.writePodFiles(p, ps)
	if err != nil {
		return nil, nil, err
	}
	pinit.Mounts = mounts
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if r.ns != nsNone {
		pinit.Argv = argv
		argv = append(slices.Clone(r.cfg.PodInit), pinit.Args()...)
		r.ns.apply(attr, p.Spec.HostNetwork)
	}
	return argv, attr, nil
}

// start runs one process of a container, its output to the current log.
func (r *Runtime) start(p *corev1.Pod, ps *pod, c *container, now time.Time) error {
	argv := r.command(c.spec)
	dir := filepath.Join(ps.dir, c.spec.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(logPath(dir, c.restarts), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	vols, err := r.prepareVolumes(p, ps)
	if err != nil {
		logf.Close()
		return err
	}
	mounts, err := mountsFor(c.spec, vols)
	if err != nil {
		logf.Close()
		return err
	}
	argv, attr, err := r.inPod(p, ps, argv, mounts)
	if err != nil {
		logf.Close()
		return err
	}
	env, err := r.env(p, ps, c.spec)
	if err != nil {
		logf.Close()
		return err
	}
	argv = expandArgs(argv, env)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = r.workingDir(c.spec)
	cmd.SysProcAttr = attr
	lw := &stampedWriter{w: &cappedWriter{f: logf, limit: r.cfg.LogLimit}, lineStart: true, now: time.Now}
	sio, childSide, err := wire(cmd, c.spec, lw)
	if err != nil {
		logf.Close()
		return err
	}
	err = cmd.Start()
	childSide()
	if err != nil {
		sio.close()
		logf.Close()
		return fmt.Errorf("start %q: %w", strings.Join(argv, " "), err)
	}
	c.cmd, c.pid, c.running, c.started, c.io, c.mounts = cmd, cmd.Process.Pid, true, now, sio, mounts
	c.exited = make(chan struct{})
	c.ready, c.startedOK = c.spec.ReadinessProbe == nil, c.spec.StartupProbe == nil
	c.waitingReason, c.waitingMessage = "", ""
	pctx, cancel := context.WithCancel(context.Background())
	c.probeCancel = cancel
	r.cfg.Log.Info("container started", "pod", p.Namespace+"/"+p.Name, "container", c.spec.Name, "pid", c.pid, "restarts", c.restarts, "command", strings.Join(argv, " "))
	go r.probe(pctx, ps, c, cmd)
	go func() {
		err := cmd.Wait()
		sio.close()
		logf.Close()
		cancel()
		r.mu.Lock()
		if c.cmd == cmd {
			code := 0
			if cmd.ProcessState != nil {
				code = cmd.ProcessState.ExitCode()
				if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					code = 128 + int(ws.Signal())
				}
			}
			reason := "Completed"
			if code != 0 {
				reason = "Error"
			}
			fin := time.Now()
			c.last = &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: reason, StartedAt: metav1.NewTime(c.started), FinishedAt: metav1.NewTime(fin),
				ContainerID: containerID(c.pid)}
			if err != nil && code == 0 {
				c.last.Message = err.Error()
			}
			c.running, c.ready = false, false
			if !ps.stopping {
				r.crashed(c, fin)
			}
			close(c.exited)
		}
		r.mu.Unlock()
		r.cfg.Notify(ps.ns, ps.name)
	}()
	return nil
}

func containerID(pid int) string { return "process://" + strconv.Itoa(pid) }

func logPath(dir string, restart int32) string {
	return filepath.Join(dir, strconv.Itoa(int(restart))+".log")
}

// status is the pod's status from its containers.
func (r *Runtime) status(p *corev1.Pod, ps *pod, ips []netip.Addr, hostIP string, now time.Time) corev1.PodStatus {
	st := *p.Status.DeepCopy()
	start := metav1.NewTime(ps.started.Truncate(time.Second))
	if st.StartTime == nil {
		st.StartTime = &start
	}
	nodeagent.SetAddresses(&st, ips, hostIP)
	allReady, anyRunning, allDone, anyFailed := true, false, true, false
	initialized := r.initStatuses(p, ps, &st)
	st.ContainerStatuses = nil
	for _, spec := range p.Spec.Containers {
		c := ps.ctrs[spec.Name]
		cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, ImageID: "process://" + spec.Image, RestartCount: c.restarts}
		started := c.running && c.startedOK
		cs.Started = &started
		switch {
		case c.running:
			anyRunning, allDone = true, false
			cs.ContainerID = containerID(c.pid)
			cs.Ready = c.ready && c.startedOK
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.started.Truncate(time.Second))}
		case c.waitingReason != "" || (c.last != nil && r.shouldRestart(p, c)):
			allDone = false
			reason := c.waitingReason
			if reason == "" {
				reason = "ContainerCreating"
			}
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: c.waitingMessage}
		case c.last != nil:
			cs.ContainerID = c.last.ContainerID
			cs.State.Terminated = c.last.DeepCopy()
			anyFailed = anyFailed || c.last.ExitCode != 0
		default:
			allDone = false
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		}
		if c.last != nil && cs.State.Terminated == nil {
			cs.LastTerminationState.Terminated = c.last.DeepCopy()
		}
		allReady = allReady && cs.Ready
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	switch {
	case !initialized:
		st.Phase = corev1.PodPending
	case allDone && anyFailed:
		st.Phase = corev1.PodFailed
	case allDone:
		st.Phase = corev1.PodSucceeded
	case anyRunning || st.Phase == corev1.PodRunning:
		st.Phase = corev1.PodRunning
	default:
		st.Phase = corev1.PodPending
	}
	nodeagent.SetConditionsInitialized(&st, p, initialized, allReady && initialized, now)
	return st
}

// Stop ends a pod's containers: preStop hooks, SIGTERM to each process
// group, SIGKILL when the grace period is over. It returns true once no
// process of the pod runs (and forgets the pod); call it again until then.
func (r *Runtime) Stop(p *corev1.Pod, now time.Time) bool {
	r.mu.Lock()
	ps := r.pods[p.UID]
	if ps == nil {
		r.mu.Unlock()
		return true
	}
	first := !ps.stopping
	ps.stopping = true
	var running []*container
	for _, c := range ps.ctrs {
		if c.running {
			running = append(running, c)
		}
	}
	if len(running) == 0 {
		delete(r.pods, p.UID)
		r.mu.Unlock()
		return true
	}
	r.mu.Unlock()
	if first {
		grace := 30 * time.Second
		if p.DeletionGracePeriodSeconds != nil {
			grace = time.Duration(*p.DeletionGracePeriodSeconds) * time.Second
		} else if p.Spec.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*p.Spec.TerminationGracePeriodSeconds) * time.Second
		}
		for _, c := range running {
			go r.terminate(ps, c, grace)
		}
	}
	return false
}

// terminate runs a container's preStop hook, then SIGTERM, then SIGKILL
// after the grace period.
func (r *Runtime) terminate(ps *pod, c *container, grace time.Duration) {
	deadline := time.Now().Add(grace)
	if h := c.spec.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Exec != nil && len(h.PreStop.Exec.Command) > 0 {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		cmd := exec.CommandContext(ctx, h.PreStop.Exec.Command[0], h.PreStop.Exec.Command[1:]...)
		cmd.Env = append(os.Environ(), "POD_NAME="+ps.name, "POD_NAMESPACE="+ps.ns, "POD_IP="+ps.ip)
		_ = cmd.Run()
		cancel()
	}
	r.mu.Lock()
	pid, exited := c.pid, c.exited
	r.mu.Unlock()
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(time.Until(deadline)):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
	r.cfg.Notify(ps.ns, ps.name)
}

// Close kills every process (the agent is going away).
func (r *Runtime) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for uid, ps := range r.pods {
		for _, c := range ps.ctrs {
			if c.running {
				_ = syscall.Kill(-c.pid, syscall.SIGKILL)
			}
		}
		delete(r.pods, uid)
	}
}

// cappedWriter writes to a file until limit bytes, then starts it over
// (keeping the newest output, like a rotated log of one generation).
type cappedWriter struct {
	mu    sync.Mutex
	f     *os.File
	n     int64
	limit int64
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n+int64(len(p)) > w.limit {
		if err := w.f.Truncate(0); err == nil {
			_, _ = w.f.Seek(0, 0)
			w.n = 0
		}
	}
	n, err := w.f.Write(p)
	w.n += int64(n)
	return n, err
}

// isEchoBasic: the Gateway API's echo server image (any registry, tag or
// digest).
func isEchoBasic(image string) bool {
	if i := strings.IndexAny(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return strings.HasSuffix(image, "/echo-basic") || image == "echo-basic"
}
