package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
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
	Argv       []string
}

// Args are the arguments of `svcnet pod-init` that Parse reads back.
func (p PodInit) Args() []string {
	return append([]string{"--resolv-conf", p.ResolvConf, "--hosts", p.Hosts, "--hostname", p.Hostname, "--"}, p.Argv...)
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
