// Package arch keeps the dependency walls of docs/architecture.md: each
// outside library stays inside the one package that owns it.
package arch

import (
	"encoding/json"
	"os/exec"
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
	walls := map[string]string{
		"go.etcd.io/etcd/client/v3":             "github.com/svcnet/svcnet/internal/storage/etcd",
		"go.etcd.io/etcd/server/v3":             "github.com/svcnet/svcnet/internal/etcdserver",
		"github.com/miekg/dns":                  "github.com/svcnet/svcnet/internal/dns",
		"github.com/spf13/cobra":                "github.com/svcnet/svcnet/internal/app",
		"go.etcd.io/etcd/api/v3":                "github.com/svcnet/svcnet/internal/storage/etcd",
		"github.com/svcnet/svcnet/internal/app": "github.com/svcnet/svcnet/cmd/svcnet",
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
			for lib, owner := range walls {
				if (imp == lib || strings.HasPrefix(imp, lib+"/")) && p.ImportPath != owner {
					t.Errorf("%s imports %s; only %s may", p.ImportPath, imp, owner)
				}
			}
		}
	}
	if checked < 8 {
		t.Fatalf("listed only %d packages", checked)
	}
}
