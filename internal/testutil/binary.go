package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RunWithBinary is a TestMain for tiers that drive the built binary: it
// builds the svcnet command into a temporary directory, points *bin at it,
// runs the tests, removes the directory and returns the tests' exit code.
func RunWithBinary(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "svcnet-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, "svcnet")
	build := exec.Command("go", "build", "-o", *bin, "github.com/svcnet/svcnet/cmd/svcnet")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		return 1
	}
	return m.Run()
}
