package process

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/svcnet/svcnet/internal/poddns"
)

// writePodFiles writes the pod's resolv.conf and hosts into its directory
// (again at each container start: the cluster DNS may have appeared since)
// and returns what pod-init binds. The container's own mounts of
// /etc/resolv.conf or /etc/hosts would win in Kubernetes; here there are
// none.
func (r *Runtime) writePodFiles(p *corev1.Pod, ps *pod) (PodInit, error) {
	var cluster poddns.Cluster
	if r.cfg.DNS != nil {
		cluster = r.cfg.DNS()
	}
	rc := poddns.ForPod(p, cluster)
	ps.resolv = &rc
	if err := os.MkdirAll(ps.dir, 0o755); err != nil {
		return PodInit{}, err
	}
	pinit := PodInit{ResolvConf: filepath.Join(ps.dir, "resolv.conf")}
	files := map[string]string{pinit.ResolvConf: rc.String()}
	if !p.Spec.HostNetwork {
		pinit.Hosts, pinit.Hostname = filepath.Join(ps.dir, "hosts"), poddns.Hostname(p)
		files[pinit.Hosts] = poddns.Hosts(p, ps.ips, cluster.Domain)
	}
	for name, content := range files {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			return PodInit{}, fmt.Errorf("pod files: %w", err)
		}
	}
	return pinit, nil
}

func addrStrings(ips []netip.Addr) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

// isBusybox: an image named busybox (any tag or digest, any registry
// prefix) runs the host's busybox when there is one.
func (r *Runtime) isBusybox(image string) bool {
	if r.appletDir == "" {
		return false
	}
	if i := strings.IndexAny(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	return path.Base(image) == "busybox"
}

// oldBusybox: a busybox image of 1.28 or before (the seed's 1.28.3), whose
// nslookup printed differently from today's.
func (r *Runtime) oldBusybox(image string) bool {
	if r.oldAppletDir == "" || !r.isBusybox(image) {
		return false
	}
	if i := strings.IndexAny(image, "@"); i >= 0 {
		image = image[:i]
	}
	i := strings.LastIndex(image, ":")
	if i <= strings.LastIndex(image, "/") {
		return false // latest
	}
	minor, ok := strings.CutPrefix(image[i+1:], "1.")
	if !ok {
		return false
	}
	if j := strings.IndexFunc(minor, func(c rune) bool { return c < '0' || c > '9' }); j >= 0 {
		minor = minor[:j]
	}
	n, err := strconv.Atoi(minor)
	return err == nil && n <= 28
}

// busyboxCommand is a busybox container's command as the image runs it:
// command and args, or args alone in place of the image's `sh`; the first
// word, an applet's name or path (/bin/sh), runs that applet.
func (r *Runtime) busyboxCommand(spec corev1.Container) []string {
	argv := append(append([]string(nil), spec.Command...), spec.Args...)
	if len(spec.Command) == 0 && len(spec.Args) == 0 {
		argv = []string{"sh"}
	}
	if name := path.Base(argv[0]); r.applets[name] {
		argv[0] = filepath.Join(r.appletDir, name)
		if name == "nslookup" && r.oldBusybox(spec.Image) {
			argv[0] = filepath.Join(r.oldAppletDir, name)
		}
	}
	return argv
}

// linkApplets makes dir hold a link to busybox under each applet's name
// (busybox runs the applet its argv[0] names).
func linkApplets(busybox, dir string) (string, map[string]bool, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	applets := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name := strings.TrimSpace(sc.Text())
		if name == "" || strings.Contains(name, "/") {
			continue
		}
		link := filepath.Join(dir, name)
		if target, err := os.Readlink(link); err != nil || target != busybox {
			_ = os.Remove(link)
			if err := os.Symlink(busybox, link); err != nil {
				return "", nil, err
			}
		}
		applets[name] = true
	}
	if len(applets) == 0 {
		return "", nil, fmt.Errorf("%s --list named no applets", busybox)
	}
	return dir, applets, nil
}

// workingDir is where a container's processes start: its workingDir, else
// the image's (busybox's is /), else the agent's own.
func (r *Runtime) workingDir(spec corev1.Container) string {
	if spec.WorkingDir == "" && r.isBusybox(spec.Image) {
		return "/"
	}
	return spec.WorkingDir
}
