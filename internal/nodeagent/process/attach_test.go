package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/svcnet/svcnet/internal/testutil"
)

// contains waits for want in s.
func contains(t *testing.T, s *testutil.Buffer, what, want string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, what, func() error {
		if !strings.Contains(s.String(), want) {
			return fmt.Errorf("no %q in %q", want, s.String())
		}
		return nil
	})
}

// TestAttachToATerminal is `kubectl run -it`: a container with stdin and a
// terminal; an attached client types into its shell, sees the output, sets
// the terminal's size, and the session ends when the shell exits.
func TestAttachToATerminal(t *testing.T) {
	r := newRuntime(t, nil)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "shell", Namespace: "ns", UID: "u-tty"},
		Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "main", Image: "x",
			Command: []string{"/bin/sh"}, Stdin: true, StdinOnce: true, TTY: true}}}}
	r.Sync(p, []netip.Addr{netip.MustParseAddr("127.244.0.40")}, "127.0.0.1", time.Now())
	in, typing := io.Pipe()
	var out testutil.Buffer
	sizes := make(chan TerminalSize, 1)
	done := make(chan error, 1)
	go func() {
		done <- r.Attach(context.Background(), "ns", "shell", "main", Streams{Stdin: in, Stdout: &out, TTY: true, Resize: sizes})
	}()
	sizes <- TerminalSize{Width: 77, Height: 21}
	testutil.Eventually(t, 10*time.Second, "the terminal's size", func() error {
		_, _ = io.WriteString(typing, "stty size\n")
		if !strings.Contains(out.String(), "21 77") {
			return fmt.Errorf("output %q", out.String())
		}
		return nil
	})
	_, _ = io.WriteString(typing, "echo $((6*7)); exit\n")
	contains(t, &out, "the shell's answer", "42")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the session outlived the shell")
	}
	var log buf
	if err := r.Logs(context.Background(), "ns", "shell", &corev1.PodLogOptions{Container: "main"}, &log); err != nil || !strings.Contains(log.String(), "42") {
		t.Fatalf("the terminal's output is not in the log: %q, %v", log.String(), err)
	}
	if err := r.Attach(context.Background(), "ns", "shell", "main", Streams{TTY: true}); err == nil {
		t.Fatal("attached to a container that is not running")
	}
}

func TestAttachRefusesWhatTheContainerLacks(t *testing.T) {
	r := newRuntime(t, nil)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "ns", UID: "u-plain"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "x", Command: []string{"sleep", "30"}}}}}
	r.Sync(p, []netip.Addr{netip.MustParseAddr("127.244.0.41")}, "127.0.0.1", time.Now())
	for name, st := range map[string]Streams{"stdin": {Stdin: strings.NewReader("x")}, "tty": {TTY: true}} {
		if err := r.Attach(context.Background(), "ns", "plain", "main", st); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := r.Attach(context.Background(), "ns", "nope", "main", Streams{}); !errors.Is(err, ErrNoPod) {
		t.Fatalf("unknown pod: %v", err)
	}
}

// TestExec is `kubectl exec`: a new process in a running container, with
// stdin, separate stdout and stderr, its exit code; and with a terminal.
func TestExec(t *testing.T) {
	r := newRuntime(t, nil)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns", UID: "u-exec"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "x", Command: []string{"sleep", "30"},
			Env: []corev1.EnvVar{{Name: "GREETING", Value: "hi"}}}}}}
	r.Sync(p, []netip.Addr{netip.MustParseAddr("127.244.0.42")}, "127.0.0.1", time.Now())
	var stdout, stderr testutil.Buffer
	err := r.Exec(context.Background(), "ns", "app", "main", []string{"sh", "-c", "read x; echo $GREETING $x $POD_NAME; echo oops >&2; exit 4"},
		Streams{Stdin: strings.NewReader("there\n"), Stdout: &stdout, Stderr: &stderr})
	var exit ExitError
	if !errors.As(err, &exit) || exit.Code != 4 {
		t.Fatalf("exit: %v", err)
	}
	if stdout.String() != "hi there app\n" || stderr.String() != "oops\n" {
		t.Fatalf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	var tty testutil.Buffer
	if err := r.Exec(context.Background(), "ns", "app", "main", []string{"sh", "-c", "test -t 0 && echo on a terminal"}, Streams{Stdout: &tty, TTY: true}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tty.String(), "on a terminal") {
		t.Fatalf("tty exec: %q", tty.String())
	}
	if err := r.Exec(context.Background(), "ns", "app", "main", []string{"/no/such/command"}, Streams{}); err == nil {
		t.Fatal("exec of a missing command succeeded")
	}
}
