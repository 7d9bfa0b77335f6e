// Package app is svcnet's composition root: each command has options with
// their defaults and a Validate, and turns them into component configs,
// builds the components in phases and starts them in order. Nothing imports
// it but main (and the integration tests, which run a server in-process).
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/svcnet/svcnet/internal/app/dnsapp"
)

// Run executes the svcnet command line.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	root := &cobra.Command{
		Use:           "svcnet",
		Short:         "Kubernetes Service networking in one binary",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serverCommand(stdout, stderr), agentCommand(stdout, stderr), dnsapp.Command("dns", stdout, stderr), helloCommand(stdout), echoCommand(), podInitCmd(), tokenCommand(stdout))
	return root.ExecuteContext(ctx)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// validLogLevel checks a --log-level.
func validLogLevel(level string) error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return fmt.Errorf("--log-level must be debug, info, warn or error, not %q", level)
	}
	return nil
}
