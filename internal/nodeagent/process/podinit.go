package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// PodInit is the first program of a container process started in a mount
// and UTS namespace of its own (`svcnet pod-init`): it binds the pod's
// resolv.conf and hosts files over the host's, sets the pod's hostname,
// then executes the container's command in its place (same PID, same
// process group). Mounts are made private first, so nothing it binds
// reaches the host.
type PodInit struct {
	ResolvConf string // file bound over /etc/resolv.conf ("" leaves it)
	Hosts      string // file bound over /etc/hosts ("" leaves it)
	Hostname   string // "" leaves it
	// Mounts are the container's volumes, bound at their mountPaths (a
	// missing mount point is made first, as an empty directory or file).
	Mounts []Mount
	Argv   []string
}

// Args are the arguments of `svcnet pod-init` that Parse reads back.
func (p PodInit) Args() []string {
	args := []string{"--resolv-conf", p.ResolvConf, "--hosts", p.Hosts, "--hostname", p.Hostname}
	for _, m := range p.Mounts {
		flag := "--mount"
		if m.ReadOnly {
			flag = "--mount-ro"
		}
		args = append(args, flag, m.Source+"="+m.Target)
	}
	return append(append(args, "--"), p.Argv...)
}

// ParsePodInit reads what Args wrote.
func ParsePodInit(args []string) (PodInit, error) {
	var p PodInit
	for len(args) > 0 {
		switch args[0] {
		case "--":
			p.Argv = args[1:]
			if len(p.Argv) == 0 {
				return p, errors.New("pod-init: no command after --")
			}
			return p, nil
		case "--mount", "--mount-ro":
			if len(args) < 2 {
				return p, fmt.Errorf("pod-init: %s needs SOURCE=TARGET", args[0])
			}
			src, dst, ok := strings.Cut(args[1], "=")
			if !ok || !filepath.IsAbs(src) || !filepath.IsAbs(dst) {
				return p, fmt.Errorf("pod-init: %s %q: want absolute SOURCE=TARGET", args[0], args[1])
			}
			p.Mounts = append(p.Mounts, Mount{Source: src, Target: dst, ReadOnly: args[0] == "--mount-ro"})
			args = args[2:]
		case "--resolv-conf", "--hosts", "--hostname":
			if len(args) < 2 {
				return p, fmt.Errorf("pod-init: %s needs a value", args[0])
			}
			switch args[0] {
			case "--resolv-conf":
				p.ResolvConf = args[1]
			case "--hosts":
				p.Hosts = args[1]
			default:
				p.Hostname = args[1]
			}
			args = args[2:]
		default:
			return p, fmt.Errorf("pod-init: unknown argument %q", args[0])
		}
	}
	return p, errors.New("pod-init: no command (want ... -- command args)")
}

// Run sets the namespace up and executes the command; it returns only on
// failure.
func (p PodInit) Run() error {
	// The runtime starts containers with a parent-death signal, so they end
	// with the agent. The kernel keeps it per thread, and a Go program may
	// exec from any of its threads: set it again on the thread that execs.
	runtime.LockOSThread()
	parent := os.Getppid()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0); errno != 0 {
		return fmt.Errorf("pod-init: parent-death signal: %w", errno)
	}
	if os.Getppid() != parent {
		os.Exit(1) // the agent is already gone
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("pod-init: private mounts: %w", err)
	}
	for target, src := range map[string]string{"/etc/resolv.conf": p.ResolvConf, "/etc/hosts": p.Hosts} {
		if src == "" {
			continue
		}
		if err := syscall.Mount(src, target, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("pod-init: bind %s over %s: %w", src, target, err)
		}
	}
	for _, m := range p.Mounts {
		if err := bindMount(m); errors.Is(err, errNoMountPoint) {
			// Unprivileged (a user namespace) a mount point may not be made
			// where the host's user may not write: the volume is left out.
			fmt.Fprintf(os.Stderr, "svcnet: volume %s not mounted: %v\n", m.Source, err)
		} else if err != nil {
			return err
		}
	}
	if p.Hostname != "" {
		if err := syscall.Sethostname([]byte(p.Hostname)); err != nil {
			return fmt.Errorf("pod-init: hostname: %w", err)
		}
	}
	path, err := exec.LookPath(p.Argv[0])
	if err != nil {
		return err
	}
	return syscall.Exec(path, p.Argv, os.Environ())
}

// nsMode is how containers get mount and UTS namespaces of their own.
type nsMode int

const (
	// nsNone: they share the host's (not root, no user namespaces).
	nsNone nsMode = iota
	// nsRoot: the agent is root and makes them directly.
	nsRoot
	// nsUser: inside a user namespace of their own, where the agent's user
	// is root (as rootless containers run), where the kernel allows it.
	nsUser
)

// detectNamespaces finds what this process can give containers: root's
// namespaces, else unprivileged user namespaces (tried once).
func detectNamespaces() nsMode {
	if os.Geteuid() == 0 {
		return nsRoot
	}
	probe := exec.Command("/bin/true")
	probe.SysProcAttr = &syscall.SysProcAttr{}
	nsUser.apply(probe.SysProcAttr, false)
	if probe.Run() == nil {
		return nsUser
	}
	return nsNone
}

// apply sets the clone flags (and user mappings) of mode on attr; a pod on
// the host's network keeps the host's name.
func (m nsMode) apply(attr *syscall.SysProcAttr, hostNetwork bool) {
	if m == nsNone {
		return
	}
	attr.Cloneflags |= syscall.CLONE_NEWNS
	if !hostNetwork {
		attr.Cloneflags |= syscall.CLONE_NEWUTS
	}
	if m == nsUser {
		attr.Cloneflags |= syscall.CLONE_NEWUSER
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
}

var errNoMountPoint = errors.New("pod-init: cannot make mount point")

// bindMount binds a volume at its mount point, making the point (an empty
// directory, or file for a file) when it does not exist, then makes it
// read-only if asked.
func bindMount(m Mount) error {
	fi, err := os.Stat(m.Source)
	if err != nil {
		return fmt.Errorf("pod-init: volume %s: %w", m.Source, err)
	}
	if _, err := os.Stat(m.Target); os.IsNotExist(err) {
		if fi.IsDir() {
			err = os.MkdirAll(m.Target, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(m.Target), 0o755); err == nil {
			var f *os.File
			if f, err = os.OpenFile(m.Target, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				err = f.Close()
			}
		}
		if err != nil {
			return fmt.Errorf("%w %s: %v", errNoMountPoint, m.Target, err)
		}
	}
	if err := syscall.Mount(m.Source, m.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("pod-init: bind %s at %s: %w", m.Source, m.Target, err)
	}
	if m.ReadOnly {
		if err := syscall.Mount("", m.Target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("pod-init: read-only %s: %w", m.Target, err)
		}
	}
	return nil
}
