// Package hostnet makes whole address ranges local to this host, so that
// pods and the ClusterIP proxy of the process runtime can bind addresses of
// ordinary cluster ranges (10.244.0.0/16, 10.96.0.0/12) instead of ranges
// inside 127.0.0.0/8. It needs root: each range gets a local route (as
// `ip route add local <range> dev <link> table local`) on a dummy link
// svcnet0, or on the loopback device where the kernel has no dummy links.
// Release removes what Claim added.
package hostnet

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
)

// Link is the dummy link Claim creates.
const Link = "svcnet0"

// Claim is a set of ranges made local.
type Claim struct {
	dev     string
	created bool
	routes  []netip.Prefix
}

// ClaimRanges makes every address of the prefixes local.
func ClaimRanges(prefixes []netip.Prefix) (*Claim, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("making cluster ranges local needs root (without it, process mode uses ranges inside 127.0.0.0/8)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, errors.New("making cluster ranges local needs the ip command (iproute2)")
	}
	c := &Claim{dev: Link}
	switch err := ip("link", "add", Link, "type", "dummy"); {
	case err == nil:
		c.created = true
	case strings.Contains(err.Error(), "File exists"):
	default:
		c.dev = "lo" // no dummy links in this kernel: the loopback device serves
	}
	if err := ip("link", "set", c.dev, "up"); err != nil {
		_ = c.Release()
		return nil, err
	}
	for _, p := range prefixes {
		p = p.Masked()
		family := "-4"
		if p.Addr().Is6() {
			family = "-6"
		}
		if err := ip(family, "route", "replace", "local", p.String(), "dev", c.dev, "table", "local"); err != nil {
			_ = c.Release()
			return nil, err
		}
		c.routes = append(c.routes, p)
	}
	return c, nil
}

// Device is the link the routes are on (svcnet0, or lo).
func (c *Claim) Device() string { return c.dev }

// Release removes the routes, and the link if Claim created it.
func (c *Claim) Release() error {
	var errs []error
	for _, p := range c.routes {
		family := "-4"
		if p.Addr().Is6() {
			family = "-6"
		}
		if err := ip(family, "route", "del", "local", p.String(), "dev", c.dev, "table", "local"); err != nil {
			errs = append(errs, err)
		}
	}
	c.routes = nil
	if c.created {
		if err := ip("link", "del", c.dev); err != nil {
			errs = append(errs, err)
		}
		c.created = false
	}
	return errors.Join(errs...)
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
