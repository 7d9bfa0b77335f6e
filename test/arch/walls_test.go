// Package arch keeps the dependency walls of docs/architecture.md: each
// outside library stays inside the one package that owns it.
package arch

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestDependencyWalls(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "github.com/svcnet/svcnet/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	const m = "github.com/svcnet/svcnet/"
	// library (and its subpackages) → the packages that may import it.
	walls := map[string][]string{
		"go.etcd.io/etcd/client/v3": {m + "internal/storage/etcd"},
		"go.etcd.io/etcd/server/v3": {m + "internal/etcdserver"},
		"go.etcd.io/etcd/api/v3":    {m + "internal/storage/etcd"},
		"github.com/miekg/dns":      {m + "internal/dns"},
		"github.com/spf13/cobra":    {m + "internal/app", m + "internal/app/dnsapp"},
		m + "internal/app":          {m + "cmd/svcnet", m + "cmd/svcnet-dns", m + "internal/app", m + "internal/app/dnsapp"},
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		checked++
		// Benchmarks are measuring tools, not components: bench/dns is a DNS
		// client and runs the ceiling responder, so it speaks DNS itself.
		if strings.HasPrefix(p.ImportPath, "github.com/svcnet/svcnet/bench/") {
			continue
		}
		for _, imp := range p.Imports {
			for lib, owners := range walls {
				if (imp == lib || strings.HasPrefix(imp, lib+"/")) && !slices.Contains(owners, p.ImportPath) {
					t.Errorf("%s imports %s; only %v may", p.ImportPath, imp, owners)
				}
			}
		}
	}
	if checked < 8 {
		t.Fatalf("listed only %d packages", checked)
	}
}

// TestDNSBinaryStaysSmall: svcnet-dns links the DNS, not the API server,
// etcd, the controllers or client-go's clientset of every API group.
func TestDNSBinaryStaysSmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/svcnet/svcnet/cmd/svcnet-dns").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "github.com/svcnet/svcnet/internal/dns") {
		t.Fatalf("svcnet-dns does not link internal/dns: %v", deps)
	}
	for _, d := range deps {
		for _, banned := range []string{"go.etcd.io/", "github.com/svcnet/svcnet/internal/apiserver", "github.com/svcnet/svcnet/internal/registry",
			"github.com/svcnet/svcnet/internal/controller", "k8s.io/client-go/kubernetes", "k8s.io/api/apps/"} {
			if strings.HasPrefix(d, banned) {
				t.Errorf("svcnet-dns links %s", d)
			}
		}
	}
}
