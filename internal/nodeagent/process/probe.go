package process

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/svcnet/svcnet/internal/version"
)

// probe runs a container process's startup, liveness and readiness probes
// with Kubernetes' timing fields until ctx ends (the process exited).
func (r *Runtime) probe(ctx context.Context, ps *pod, c *container, cmd *exec.Cmd) {
	spec := c.spec
	if p := spec.StartupProbe; p != nil {
		if !r.loop(ctx, ps, spec, "Startup", p, func(ok bool) bool {
			if ok {
				r.set(ps, c, cmd, func() { c.startedOK = true })
				return false // started: the startup probe is done
			}
			return true
		}, func() {
			r.cfg.Log.Info("startup probe failed; restarting", "pod", ps.ns+"/"+ps.name, "container", spec.Name)
			r.event(ps, corev1.EventTypeNormal, "Killing", "Container %s failed startup probe, will be restarted", spec.Name)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}) {
			return
		}
	}
	if p := spec.LivenessProbe; p != nil {
		go r.loop(ctx, ps, spec, "Liveness", p, func(bool) bool { return true }, func() {
			r.cfg.Log.Info("liveness probe failed; restarting", "pod", ps.ns+"/"+ps.name, "container", spec.Name)
			r.event(ps, corev1.EventTypeNormal, "Killing", "Container %s failed liveness probe, will be restarted", spec.Name)
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		})
	}
	if p := spec.ReadinessProbe; p != nil {
		r.loop(ctx, ps, spec, "Readiness", p, func(ok bool) bool {
			r.set(ps, c, cmd, func() { c.ready = ok })
			return true
		}, nil)
	}
}

// set changes a container's probe state if cmd is still its process, and
// asks for a pod sync when it changed.
func (r *Runtime) set(ps *pod, c *container, cmd *exec.Cmd, f func()) {
	r.mu.Lock()
	if c.cmd != cmd {
		r.mu.Unlock()
		return
	}
	ready, started := c.ready, c.startedOK
	f()
	changed := ready != c.ready || started != c.startedOK
	r.mu.Unlock()
	if changed {
		r.cfg.Notify(ps.ns, ps.name)
	}
}

// event posts an event about the pod as last synced (if the agent asked).
func (r *Runtime) event(ps *pod, typ, reason, format string, args ...any) {
	if r.cfg.Event == nil {
		return
	}
	r.mu.Lock()
	p := ps.pod
	r.mu.Unlock()
	if p != nil {
		r.cfg.Event(p, typ, reason, fmt.Sprintf(format, args...))
	}
}

// loop probes every period after the initial delay. A result that crosses
// its threshold (successThreshold successes, failureThreshold failures) is
// passed to result, which says whether to go on; failureThreshold failures
// in a row also call failed. It returns false when ctx ended.
func (r *Runtime) loop(ctx context.Context, ps *pod, spec corev1.Container, kind string, p *corev1.Probe, result func(ok bool) bool, failed func()) bool {
	period := time.Duration(max(p.PeriodSeconds, 1)) * time.Second
	if p.PeriodSeconds == 0 {
		period = 10 * time.Second
	}
	timeout := time.Duration(max(p.TimeoutSeconds, 1)) * time.Second
	success, failure := max(p.SuccessThreshold, 1), p.FailureThreshold
	if failure == 0 {
		failure = 3
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(time.Duration(p.InitialDelaySeconds) * time.Second):
	}
	okRun, failRun := int32(0), int32(0)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		err := r.check(ctx, ps, spec, p.ProbeHandler, timeout)
		if ctx.Err() != nil {
			return false
		}
		if err == nil {
			okRun, failRun = okRun+1, 0
			if okRun == success && !result(true) {
				return true
			}
		} else {
			// Every failed probe is an Unhealthy event, as a kubelet posts
			// them (the recorder counts repeats).
			r.event(ps, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %v", kind, err)
			okRun, failRun = 0, failRun+1
			if failRun == failure {
				r.cfg.Log.Debug("probe failed", "pod", ps.ns+"/"+ps.name, "container", spec.Name, "err", err)
				if !result(false) {
					return true
				}
				if failed != nil {
					failed()
					return true
				}
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

// check runs one probe: httpGet (2xx/3xx), tcpSocket (connects) or exec
// (exits 0), against the pod's IP unless a host is given.
func (r *Runtime) check(ctx context.Context, ps *pod, spec corev1.Container, h corev1.ProbeHandler, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.HTTPGet != nil:
		g := h.HTTPGet
		port, err := resolvePort(g.Port, spec)
		if err != nil {
			return err
		}
		host := g.Host
		if host == "" {
			host = ps.ip
		}
		scheme := "http"
		if g.Scheme == corev1.URISchemeHTTPS {
			scheme = "https"
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+g.Path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", version.ProbeUserAgent)
		for _, hd := range g.HTTPHeaders {
			req.Header.Set(hd.Name, hd.Value)
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}} // #nosec G402 -- kubelet does not verify probe targets either
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case h.TCPSocket != nil:
		port, err := resolvePort(h.TCPSocket.Port, spec)
		if err != nil {
			return err
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = ps.ip
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case h.Exec != nil && len(h.Exec.Command) > 0:
		cmd := exec.CommandContext(ctx, h.Exec.Command[0], h.Exec.Command[1:]...)
		cmd.Env = []string{"POD_NAME=" + ps.name, "POD_NAMESPACE=" + ps.ns, "POD_IP=" + ps.ip, "PATH=/usr/local/bin:/usr/bin:/bin"}
		cmd.Dir = spec.WorkingDir
		return cmd.Run()
	}
	return nil // gRPC probes are not run: taken as passing
}

// resolvePort turns a probe's port (a number or a container port's name)
// into a number.
func resolvePort(p intstr.IntOrString, spec corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range spec.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("no container port named %q", p.StrVal)
}
