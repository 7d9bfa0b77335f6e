// Command svcnet is Kubernetes Service networking in one binary.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/svcnet/svcnet/internal/app"
	"github.com/svcnet/svcnet/internal/nslookup"
)

func main() {
	// Run as `nslookup` (a busybox:1.28 pod's applet), it is that nslookup.
	if filepath.Base(os.Args[0]) == "nslookup" {
		os.Exit(nslookup.Main(os.Args[1:], "/etc/resolv.conf", os.Stdout, os.Stderr))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "svcnet:", err)
		os.Exit(1)
	}
}
