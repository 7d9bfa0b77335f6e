// Package arch keeps the dependency walls of docs/architecture.md: each
// outside library stays inside the one package that owns it, and the
// components that work from the API (controllers, node agent, proxy, DNS)
// reach it only through client-go. Test imports count too. A rule whose
// packages no longer exist fails, so the rules cannot rot into guarding
// nothing.
package arch

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const m = "github.com/svcnet/svcnet/"

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

// allImports are a package's imports, its tests' included.
func (p pkg) allImports() []string {
	return slices.Concat(p.Imports, p.TestImports, p.XTestImports)
}

// under reports whether path is pkg or one of its subpackages.
func under(path, pkg string) bool { return path == pkg || strings.HasPrefix(path, pkg+"/") }

// owned: a library (and its subpackages) only its owners (and their
// subpackages) may import.
type owned struct {
	lib    string
	owners []string
	why    string
}

var ownedLibs = []owned{
	{"go.etcd.io/etcd/client/v3", []string{m + "internal/storage/etcd", m + "bench"},
		"the Store contract is the one way to etcd; its client stays behind it (benchmarks measure raw etcd as their ceiling)"},
	{"go.etcd.io/etcd/api/v3", []string{m + "internal/storage/etcd", m + "bench"}, "etcd's wire types are the store's business"},
	{"go.etcd.io/etcd/server/v3", []string{m + "internal/etcdserver", m + "bench/etcd"},
		"only the embedded member links etcd's server (and bench/etcd, which is etcd itself, for the benchmarks' multi-member clusters)"},
	{"github.com/miekg/dns", []string{m + "internal/dns", m + "bench/dns", m + "internal/nslookup"}, "one package owns the DNS wire (the benchmark and busybox 1.28's nslookup are DNS clients; the benchmark is also the ceiling responder)"},
	{"github.com/spf13/cobra", []string{m + "internal/app", m + "internal/app/dnsapp"}, "flags are the composition root's; components take configs"},
	{"k8s.io/apiextensions-apiserver/pkg/apiserver", []string{m + "internal/customresource"},
		"custom resources' schemas (validation, pruning, defaulting, CEL) are checked in one place"},
	{m + "internal/app", []string{m + "cmd/svcnet", m + "cmd/svcnet-dns", m + "internal/app", m + "test/integration"},
		"the composition root is imported by main (and the in-process integration tests) only"},
}

// apart: packages under from may not import anything under banned.
type apart struct {
	from   []string
	banned []string
	why    string
}

var apartRules = []apart{
	{
		from: []string{m + "internal/controller", m + "internal/kube", m + "internal/scheduler", m + "internal/nodeagent", m + "internal/gateway", m + "internal/ingress",
			m + "internal/proxy", m + "internal/dns", m + "internal/nodeproxy"},
		banned: []string{m + "internal/apiserver", m + "internal/registry", m + "internal/storage", m + "internal/etcdserver", m + "internal/ipalloc"},
		why:    "controllers, node agents, the proxy and the DNS work from the API through client-go, as they would against kube-apiserver",
	},
	{
		from:   []string{m + "internal/apiserver", m + "internal/registry", m + "internal/storage"},
		banned: []string{m + "internal/controller", m + "internal/nodeagent", m + "internal/proxy", m + "internal/dns", m + "internal/nodeproxy"},
		why:    "the API serves objects; it does not run what acts on them (pods/log reaches the node through the LogSource it is given)",
	},
	{
		from: []string{m + "internal/rbac", m + "internal/satoken"},
		banned: []string{m + "internal/apiserver", m + "internal/registry", m + "internal/storage", "k8s.io/client-go/kubernetes",
			"k8s.io/client-go/informers"},
		why: "authorization decisions and tokens are pure: the API server hands them what they read",
	},
	{
		from: []string{m + "internal/watchcache"},
		banned: []string{m + "internal/apiserver", m + "internal/registry", m + "internal/storage/etcd", "k8s.io/client-go",
			"k8s.io/api"},
		why: "the watch cache holds bytes and what selectors read; the registry decodes, etcd is behind storage.Store",
	},
	{
		from:   []string{m + "internal/customresource", m + "internal/admissionpolicy"},
		banned: []string{m + "internal/apiserver", m + "internal/storage", "k8s.io/client-go/rest", "k8s.io/client-go/informers", "k8s.io/client-go/dynamic"},
		why:    "definitions become registry resources; the API server serves them and is told when they change",
	},
	{
		from:   []string{m + "internal/dns"},
		banned: []string{m + "internal/kube", "k8s.io/client-go/kubernetes", "k8s.io/client-go/informers"},
		why:    "the DNS decodes protobuf straight into records and stays small (svcnet-dns)",
	},
}

func listPackages(t *testing.T) map[string]pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", m+"...").Output()
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	if len(pkgs) < 20 {
		t.Fatalf("listed only %d packages", len(pkgs))
	}
	return pkgs
}

func TestDependencyWalls(t *testing.T) {
	pkgs := listPackages(t)
	exists := func(prefix string) bool {
		for path, p := range pkgs {
			if under(path, prefix) || slices.ContainsFunc(p.allImports(), func(i string) bool { return under(i, prefix) }) {
				return true
			}
		}
		return false
	}
	for _, r := range ownedLibs {
		if !exists(r.lib) {
			t.Errorf("rule for %s guards nothing: no package is or imports it (remove or mend the rule)", r.lib)
		}
		for _, o := range r.owners {
			if !exists(o) {
				t.Errorf("rule for %s names owner %s, which does not exist", r.lib, o)
			}
		}
		for path, p := range pkgs {
			if slices.ContainsFunc(r.owners, func(o string) bool { return under(path, o) }) {
				continue
			}
			for _, imp := range p.allImports() {
				if under(imp, r.lib) {
					t.Errorf("%s imports %s; only %v may: %s", path, imp, r.owners, r.why)
				}
			}
		}
	}
	for _, r := range apartRules {
		for _, prefix := range slices.Concat(r.from, r.banned) {
			if !exists(prefix) {
				t.Errorf("rule %q names %s, which no longer exists", r.why, prefix)
			}
		}
		for path, p := range pkgs {
			if !slices.ContainsFunc(r.from, func(f string) bool { return under(path, f) }) {
				continue
			}
			for _, imp := range p.allImports() {
				for _, b := range r.banned {
					if under(imp, b) {
						t.Errorf("%s imports %s: %s", path, imp, r.why)
					}
				}
			}
		}
	}
}

// TestDNSBinaryStaysSmall: svcnet-dns links the DNS, not the API server,
// etcd, the controllers or client-go's clientset of every API group.
func TestDNSBinaryStaysSmall(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", m+"cmd/svcnet-dns").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, m+"internal/dns") {
		t.Fatalf("svcnet-dns does not link internal/dns: %v", deps)
	}
	for _, d := range deps {
		for _, banned := range []string{"go.etcd.io/", m + "internal/apiserver", m + "internal/registry",
			m + "internal/controller", m + "internal/kube", "k8s.io/client-go/kubernetes", "k8s.io/api/apps/"} {
			if under(d, strings.TrimSuffix(banned, "/")) || strings.HasPrefix(d, banned) {
				t.Errorf("svcnet-dns links %s", d)
			}
		}
	}
}
