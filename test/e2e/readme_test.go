package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sessionMarker precedes each README block that is part of the one
// terminal session the README walks through.
const sessionMarker = "<!-- readme-session -->"

// readmeSession is the README's session: its marked sh blocks, in order.
func readmeSession(readme string) (string, int) {
	var script strings.Builder
	blocks := 0
	rest := readme
	for {
		i := strings.Index(rest, sessionMarker)
		if i < 0 {
			return script.String(), blocks
		}
		rest = rest[i+len(sessionMarker):]
		start := strings.Index(rest, "```sh\n")
		end := strings.Index(rest[start+6:], "\n```")
		if start < 0 || end < 0 || strings.TrimSpace(rest[:start]) != "" {
			return "", -1 // a marker not right before an sh block
		}
		script.WriteString(rest[start+6:start+6+end] + "\n")
		blocks++
		rest = rest[start+6+end:]
	}
}

// TestREADMECommands runs the README's session as a user pasting it into
// one terminal would: every marked block, in order, in one bash with
// `set -euo pipefail`, from a scratch directory holding the repository's
// sources, with the real kubectl, dig, curl and etcd. Every command must
// succeed; what the session leaves running ends with the test.
func TestREADMECommands(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script, blocks := readmeSession(string(b))
	if blocks < 5 {
		t.Fatalf("README session: %d blocks (a marker must stand right before a ```sh block)", blocks)
	}
	for _, tool := range []string{"kubectl", "dig", "curl", "etcd", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the README session needs %s on PATH", tool)
		}
	}
	// The session uses the README's addresses; a svcnet already running on
	// them (yours?) would answer instead.
	for _, addr := range []string{"127.0.0.1:6443", "127.0.0.1:6444", "127.0.0.1:2379", "127.0.0.1:9153", "127.0.0.1:1053"} {
		if l, err := net.Listen("tcp", addr); err != nil {
			t.Fatalf("the README session needs %s free: %v", addr, err)
		} else {
			l.Close()
		}
	}
	if os.Geteuid() != 0 {
		if b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start"); strings.TrimSpace(string(b)) != "0" {
			t.Fatal("the README session curls a ClusterIP's port 80: run as root or with net.ipv4.ip_unprivileged_port_start=0 (as the README says)")
		}
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum", "Makefile", "cmd", "internal", "testdata"} {
		if err := os.Symlink(filepath.Join(repo, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	goEnv := map[string]string{}
	for _, v := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		out, err := exec.Command("go", "env", v).Output()
		if err != nil {
			t.Fatal(err)
		}
		goEnv[v] = strings.TrimSpace(string(out))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -euo pipefail\n"+script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "KUBECONFIG=", "GOFLAGS=")
	for k, v := range goEnv {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// A file, not a pipe: what the session leaves running in the
	// background keeps its output open after bash ends.
	logFile, err := os.Create(filepath.Join(dir, "session.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	err = cmd.Run()
	endGroup(t, cmd.Process.Pid)
	out, _ := os.ReadFile(logFile.Name())
	if err != nil {
		t.Fatalf("README session failed: %v\n--- script ---\n%s\n--- output ---\n%s", err, script, out)
	}
	t.Logf("README session: %d blocks ran\n%s", blocks, out)
}

// endGroup stops what a session left running in its process group: a
// SIGTERM (svcnet shuts down cleanly), then SIGKILL after 20 s.
func endGroup(t *testing.T, pgid int) {
	t.Helper()
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			t.Errorf("processes of the README session outlived SIGTERM by 20 s")
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReadmeSessionParser(t *testing.T) {
	doc := "intro\n" + sessionMarker + "\n```sh\necho one\n```\ntext\n```sh\nnot marked\n```\n" + sessionMarker + "\n\n```sh\necho two\n```\n"
	script, n := readmeSession(doc)
	if n != 2 || script != "echo one\necho two\n" {
		t.Fatalf("%d blocks: %q", n, script)
	}
	if _, n := readmeSession(sessionMarker + "\nprose between\n```sh\nx\n```\n"); n != -1 {
		t.Fatalf("a marker away from its block was accepted: %d", n)
	}
}
