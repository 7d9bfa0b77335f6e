package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
)

// Streams are what a client attached to a container (or an exec'd
// process) reads and writes; nil streams are not asked for.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TTY: the process has a terminal; its output comes on Stdout alone.
	TTY bool
	// Resize delivers the client's terminal size (TTY only).
	Resize <-chan TerminalSize
}

// TerminalSize is a terminal's width and height in characters.
type TerminalSize struct{ Width, Height uint16 }

// ExitError is a process's non-zero exit.
type ExitError struct{ Code int }

func (e ExitError) Error() string {
	return fmt.Sprintf("command terminated with non-zero exit code: %d", e.Code)
}

// openPTY opens a pseudo-terminal pair: the master the runtime keeps, the
// slave the process gets as its controlling terminal.
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var unlock int32
	var n uint32
	if err := ioctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	if err := ioctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n)); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, err
	}
	return master, slave, nil
}

// setSize sets a terminal's size.
func setSize(tty *os.File, s TerminalSize) error {
	ws := struct{ Row, Col, X, Y uint16 }{Row: s.Height, Col: s.Width}
	return ioctl(tty, syscall.TIOCSWINSZ, unsafe.Pointer(&ws))
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

// fanout writes a process's output to its log and to every attached client.
type fanout struct {
	log     io.Writer
	mu      sync.Mutex
	clients []io.Writer
}

func (f *fanout) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.clients {
		_, _ = c.Write(p)
	}
	return f.log.Write(p)
}

func (f *fanout) add(w io.Writer) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clients = append(f.clients, w)
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.clients = slices.DeleteFunc(f.clients, func(c io.Writer) bool { return c == w })
	}
}

// stdio is how a container's process is wired: through a terminal (tty),
// or with its output to the log and clients and, with stdin, a pipe in.
type stdio struct {
	tty *os.File // master; nil without a terminal
	// copied closes once the terminal's output is all copied.
	copied chan struct{}
	stdin  io.WriteCloser
	stdout *fanout
	stderr *fanout
	// stdinOnce: stdin closes when the first attached client leaves.
	stdinOnce bool
	attached  bool
}

// wire connects cmd to a new stdio for spec, writing output to log.
// cleanup closes what the parent keeps of the child's side once started.
func wire(cmd *exec.Cmd, spec corev1.Container, log io.Writer) (*stdio, func(), error) {
	s := &stdio{stdout: &fanout{log: log}, stdinOnce: spec.StdinOnce}
	s.stderr = s.stdout
	if spec.TTY {
		master, slave, err := openPTY()
		if err != nil {
			return nil, nil, fmt.Errorf("terminal: %w", err)
		}
		s.tty = master
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr.Setsid, cmd.SysProcAttr.Setctty, cmd.SysProcAttr.Ctty = true, true, 0
		cmd.SysProcAttr.Setpgid = false // a session leader leads its group
		s.copied = make(chan struct{})
		go func() {
			defer close(s.copied)
			_, _ = copyAll(s.stdout, master)
		}()
		if spec.Stdin {
			s.stdin = master
		}
		return s, func() { slave.Close() }, nil
	}
	cmd.Stdout, cmd.Stderr = s.stdout, s.stderr
	if spec.Stdin {
		w, err := cmd.StdinPipe()
		if err != nil {
			return nil, nil, err
		}
		s.stdin = w
	}
	return s, func() {}, nil
}

// close releases the terminal (its reader ends) after the process exits.
func (s *stdio) close() {
	if s.tty != nil {
		select { // the last output first, unless a child keeps the terminal open
		case <-s.copied:
		case <-time.After(time.Second):
		}
		_ = s.tty.Close()
	}
}

// copyAll copies until src ends (a terminal master ends with EIO when the
// last process holding its slave exits).
func copyAll(dst io.Writer, src io.Reader) (int64, error) {
	n, err := io.Copy(dst, src)
	if errors.Is(err, syscall.EIO) {
		err = nil
	}
	return n, err
}

// serve connects a client's streams to s until the process ends (exited
// closes) or the client leaves (ctx ends, or its stdin ends under
// stdinOnce).
func (s *stdio) serve(ctx context.Context, st Streams, exited <-chan struct{}) {
	var removes []func()
	if st.Stdout != nil {
		removes = append(removes, s.stdout.add(st.Stdout))
	}
	if st.Stderr != nil && s.tty == nil {
		removes = append(removes, s.stderr.add(st.Stderr))
	}
	defer func() {
		for _, r := range removes {
			r()
		}
	}()
	if s.tty != nil && st.Resize != nil {
		go func() {
			for {
				select {
				case size, ok := <-st.Resize:
					if !ok {
						return
					}
					_ = setSize(s.tty, size)
				case <-exited:
					return
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	inDone := make(chan struct{})
	if st.Stdin != nil && s.stdin != nil {
		go func() {
			defer close(inDone)
			_, _ = io.Copy(s.stdin, st.Stdin)
			if s.stdinOnce && s.tty == nil {
				_ = s.stdin.Close()
			}
		}()
	}
	select {
	case <-exited:
	case <-ctx.Done():
	case <-stdinEnded(inDone, s.stdinOnce):
	}
}

// stdinEnded is inDone when the client's end of stdin ends the session.
func stdinEnded(inDone chan struct{}, once bool) <-chan struct{} {
	if once {
		return inDone
	}
	return nil
}

// Attach connects a client to the running process of a container.
func (r *Runtime) Attach(ctx context.Context, ns, name, ctr string, st Streams) error {
	r.mu.Lock()
	_, c, err := r.containerNamed(ns, name, ctr)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	sio, exited, running := c.io, c.exited, c.running
	r.mu.Unlock()
	if !running || sio == nil {
		return fmt.Errorf("container %s is not running", ctr)
	}
	if st.Stdin != nil && sio.stdin == nil {
		return fmt.Errorf("container %s does not take stdin (spec.containers[].stdin is false)", ctr)
	}
	if st.TTY && sio.tty == nil {
		return fmt.Errorf("container %s has no terminal (spec.containers[].tty is false)", ctr)
	}
	sio.serve(ctx, st, exited)
	return nil
}

// Exec runs command as a new process of a running container: its
// environment, working directory and (where it can) its pod's namespaces,
// with the client's streams; a terminal when st.TTY. It returns when the
// process ends, an ExitError for a non-zero exit.
func (r *Runtime) Exec(ctx context.Context, ns, name, ctr string, command []string, st Streams) error {
	r.mu.Lock()
	ps, c, err := r.containerNamed(ns, name, ctr)
	if err != nil {
		r.mu.Unlock()
		return err
	}
	p := ps.pod
	if !c.running || p == nil {
		r.mu.Unlock()
		return fmt.Errorf("container %s is not running", ctr)
	}
	argv := command
	if r.isBusybox(c.spec.Image) {
		argv = r.busyboxCommand(corev1.Container{Image: c.spec.Image, Command: command})
	}
	argv, attr, err := r.inPod(p, ps, argv, c.mounts)
	env, envErr := r.env(p, ps, c.spec)
	r.mu.Unlock()
	if err = errors.Join(err, envErr); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Dir, cmd.SysProcAttr = env, r.workingDir(c.spec), attr
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second // a client that never closes stdin does not hold Wait
	var copied chan struct{}
	if st.TTY {
		master, slave, err := openPTY()
		if err != nil {
			return fmt.Errorf("terminal: %w", err)
		}
		defer master.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		attr.Setsid, attr.Setctty, attr.Ctty, attr.Setpgid = true, true, 0, false
		if err := cmd.Start(); err != nil {
			slave.Close()
			return err
		}
		slave.Close()
		copied = make(chan struct{})
		go func() {
			defer close(copied)
			_, _ = copyAll(orDiscard(st.Stdout), master)
		}()
		if st.Stdin != nil {
			go func() { _, _ = io.Copy(master, st.Stdin) }()
		}
		if st.Resize != nil {
			go func() {
				for size := range st.Resize {
					_ = setSize(master, size)
				}
			}()
		}
	} else {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = st.Stdin, orDiscard(st.Stdout), orDiscard(st.Stderr)
		if err := cmd.Start(); err != nil {
			return err
		}
	}
	err = cmd.Wait()
	if copied != nil {
		select {
		case <-copied:
		case <-time.After(time.Second):
		}
	}
	if code := cmd.ProcessState.ExitCode(); code > 0 {
		return ExitError{Code: code}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		return nil
	}
	return err
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
