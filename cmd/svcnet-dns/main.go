// Command svcnet-dns is svcnet's cluster DNS alone, built without the API
// server, etcd and the controllers: the same flags as `svcnet dns`, for
// running DNS beside any Kubernetes API with the smallest footprint.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/svcnet/svcnet/internal/app/dnsapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := dnsapp.Command("svcnet-dns", os.Stdout, os.Stderr)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "svcnet-dns:", err)
		os.Exit(1)
	}
}
