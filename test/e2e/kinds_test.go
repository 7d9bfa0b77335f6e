package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestShopAppliesUnchanged: testdata/shop — a multi-service application
// using every workload, config, storage, policy and RBAC kind svcnet
// serves — applies unchanged with the real kubectl; every pod becomes
// Ready (a DaemonSet pod on each of two nodes, an agent's among them),
// every claim is provisioned and bound, every Service name resolves, the
// CronJob fires; and each kind is listed, described, explained, patched
// and deleted as in Kubernetes.
func TestShopAppliesUnchanged(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t), "--proxy", "off")
	startAgent(t, p, "node-b")
	p.awaitKubectl(t, 60*time.Second, "node-b", "get", "node", "node-b", "-o", "jsonpath={.metadata.name}")
	p.mustKubectl(t, "apply", "-f", filepath.Join(repoRoot(t), "testdata", "shop"))

	p.awaitKubectl(t, 60*time.Second, "3 2", "-n", "shop", "get", "deploy", "frontend", "cart", "-o", "jsonpath={.items[*].status.readyReplicas}")
	p.awaitKubectl(t, 60*time.Second, "2", "-n", "shop", "get", "sts", "db", "-o", "jsonpath={.status.readyReplicas}")
	p.awaitKubectl(t, 60*time.Second, "2", "-n", "shop", "get", "rc", "legacy-ads", "-o", "jsonpath={.status.readyReplicas}")
	p.awaitKubectl(t, 60*time.Second, "2 2", "-n", "shop", "get", "ds", "log-agent", "-o", "jsonpath={.status.desiredNumberScheduled} {.status.numberReady}")
	expect(t, p.mustKubectl(t, "-n", "shop", "get", "pods", "-l", "app=log-agent", "-o", "jsonpath={.items[*].spec.nodeName}"), `node-b`)
	p.awaitKubectl(t, 60*time.Second, "Bound Bound", "-n", "shop", "get", "pvc", "-o", "jsonpath={.items[*].status.phase}")
	expect(t, p.mustKubectl(t, "-n", "shop", "get", "pods", "db-0", "-o", "jsonpath={.spec.volumes[0].persistentVolumeClaim.claimName}"), `^data-db-0$`)
	expect(t, p.mustKubectl(t, "get", "pv"), `(?m)\s1Gi\s+RWO\s+Delete\s+Bound\s+shop/data-db-0\s+local-path\s`)
	notReady := p.mustKubectl(t, "-n", "shop", "get", "pods", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
	for _, line := range strings.Split(strings.TrimSpace(notReady), "\n") {
		if !strings.HasSuffix(line, " True") {
			t.Fatalf("a pod is not Ready: %q", line)
		}
	}

	for _, name := range []string{"frontend", "frontend-external", "frontend-nodeport", "cart", "ads"} {
		if got := dig(t, p.dnsAddr, name+".shop.svc.cluster.local", "A"); len(got) != 1 {
			t.Fatalf("%s resolves to %v, want its ClusterIP", name, got)
		}
	}
	if got := dig(t, p.dnsAddr, "db.shop.svc.cluster.local", "A"); len(got) != 2 {
		t.Fatalf("headless db resolves to %v, want its two pods", got)
	}
	if got := dig(t, p.dnsAddr, "db-0.db.shop.svc.cluster.local", "A"); len(got) != 1 {
		t.Fatalf("db-0.db resolves to %v", got)
	}
	if got := dig(t, p.dnsAddr, "payments.shop.svc.cluster.local", "CNAME"); len(got) != 1 || got[0] != "payments.example.com." {
		t.Fatalf("payments resolves to %v, want its CNAME", got)
	}

	// Each kind reads as in Kubernetes.
	tables := map[string]string{
		"rc":                 `(?m)^legacy-ads\s+2\s+2\s+2\s+`,
		"ds":                 `(?m)^log-agent\s+2\s+2\s+2\s+2\s+2\s+<none>\s+`,
		"cronjob":            `(?m)^report\s+\*/1 \* \* \* \*\s+<none>\s+False\s+`,
		"pvc":                `(?m)^data-db-0\s+Bound\s+pvc-\S+\s+1Gi\s+RWO\s+local-path\s+`,
		"hpa":                `(?m)^frontend\s+Deployment/frontend\s+cpu: <unknown>/70%\s+3\s+10\s+`,
		"netpol":             `(?m)^cart-from-frontend\s+app=cart\s+`,
		"limits":             `(?m)^defaults\s+\d{4}-`,
		"quota":              `(?m)^shop-quota\s+\S+\s+pods: 0/50, requests.cpu: 0/10\s+limits.memory: 0/8Gi`,
		"role":               `(?m)^service-reader\s+\d{4}-`,
		"rolebinding":        `(?m)^shop-reads-services\s+Role/service-reader\s+`,
		"controllerrevision": `(?m)^log-agent-\S+\s+daemonset.apps/log-agent\s+1\s+`,
		"pdb":                `(?m)^frontend\s+2\s+N/A\s+1\s+`,
	}
	for kind, want := range tables {
		expect(t, p.mustKubectl(t, "-n", "shop", "get", kind), want)
	}
	expect(t, p.mustKubectl(t, "get", "sc"), `(?m)^local-path \(default\)\s+svcnet.io/local-path\s+Delete\s+Immediate\s+false\s+`)
	expect(t, p.mustKubectl(t, "get", "pc"), `(?m)^shop-high\s+100000\s+false\s+\S+\s+PreemptLowerPriority`, `(?m)^system-node-critical\s+2000001000\s+`)
	expect(t, p.mustKubectl(t, "get", "clusterrolebinding", "cluster-admin", "-o", "wide"), `ClusterRole/cluster-admin\s+\S+\s+system:masters`)
	expect(t, p.mustKubectl(t, "explain", "daemonset.spec.updateStrategy"), `RollingUpdate`)
	expect(t, p.mustKubectl(t, "explain", "cronjob.spec.concurrencyPolicy"), `FIELD: concurrencyPolicy <string>`)
	expect(t, p.mustKubectl(t, "-n", "shop", "describe", "pvc", "data-db-0"), `ProvisioningSucceeded`, `Used By:\s+db-0`)
	expect(t, p.mustKubectl(t, "-n", "shop", "describe", "ds", "log-agent"), `Desired Number of Nodes Scheduled: 2`, `SuccessfulCreate`)
	expect(t, p.mustKubectl(t, "-n", "shop", "scale", "rc", "legacy-ads", "--replicas=3"), `scaled`)
	p.awaitKubectl(t, 30*time.Second, "3", "-n", "shop", "get", "rc", "legacy-ads", "-o", "jsonpath={.status.readyReplicas}")
	for _, obj := range []string{"cronjob/report", "ds/log-agent", "pvc/data-db-1", "hpa/frontend", "netpol/cart-from-frontend", "limits/defaults",
		"quota/shop-quota", "role/service-reader", "rolebinding/shop-reads-services", "rc/legacy-ads", "cm/shop-config", "secret/shop-secret", "sa/shop"} {
		expect(t, p.mustKubectl(t, "-n", "shop", "label", obj, "checked=yes"), `labeled`)
	}
	expect(t, p.mustKubectl(t, "-n", "shop", "get", "cronjob,ds,hpa,netpol,limits,quota,role,rolebinding,rc", "-l", "checked=yes", "-o", "name"), `cronjob.batch/report`, `replicationcontroller/legacy-ads`)

	// Every kind is explained and described.
	for _, kind := range []string{"replicationcontroller", "daemonset", "controllerrevision", "cronjob", "persistentvolumeclaim",
		"limitrange", "resourcequota", "horizontalpodautoscaler", "networkpolicy", "role", "rolebinding", "configmap", "secret",
		"serviceaccount", "statefulset", "poddisruptionbudget"} {
		expect(t, p.mustKubectl(t, "explain", kind), `(?m)^KIND:\s+\S+`, `(?m)^FIELDS:`)
		expect(t, p.mustKubectl(t, "-n", "shop", "describe", kind), `(?m)^Name:\s+\S+`)
	}
	for _, kind := range []string{"persistentvolume", "storageclass", "priorityclass", "clusterrole", "clusterrolebinding"} {
		expect(t, p.mustKubectl(t, "explain", kind), `(?m)^FIELDS:`)
		expect(t, p.mustKubectl(t, "describe", kind), `(?m)^Name:\s+\S+`)
	}

	// Validation answers with Kubernetes' field causes.
	out, err := p.kubectl(t, kubectlPath(t), "-n", "shop", "create", "cronjob", "bad", "--image=busybox", "--schedule=61 * * * *")
	if err == nil || !strings.Contains(out, `spec.schedule: Invalid value: "61 * * * *"`) {
		t.Fatalf("a bad schedule: %v\n%s", err, out)
	}

	// The CronJob fires within its minute: a Job named after the minute.
	p.awaitKubectl(t, 75*time.Second, "report", "-n", "shop", "get", "jobs", "-o", `jsonpath={.items[0].metadata.ownerReferences[0].name}`)
	expect(t, p.mustKubectl(t, "-n", "shop", "get", "cronjob", "report", "-o", "jsonpath={.status.lastScheduleTime}"), `^\d{4}-`)

	// Deleting a claim's owner leaves the claim (Retain); deleting the claim
	// releases its volume, which the provisioner then removes.
	p.mustKubectl(t, "-n", "shop", "delete", "sts", "db", "--wait=false")
	p.mustKubectl(t, "-n", "shop", "delete", "pod", "db-1", "--wait=false", "--ignore-not-found")
	p.mustKubectl(t, "-n", "shop", "delete", "pvc", "data-db-1", "--wait=false")
	p.awaitKubectl(t, 30*time.Second, "1", "get", "pv", "-o", "jsonpath={.items.length}")
	expect(t, p.mustKubectl(t, "-n", "shop", "delete", "ds", "log-agent"), `deleted`)
	p.awaitKubectl(t, 30*time.Second, "", "-n", "shop", "get", "pods", "-l", "app=log-agent", "-o", "name")

	// The manifests delete as they applied: everything, then the namespace.
	p.mustKubectl(t, "delete", "-f", filepath.Join(repoRoot(t), "testdata", "shop"), "--ignore-not-found", "--wait=false")
	eventually(t, 60*time.Second, "namespace shop gone", func() string {
		if out, err := p.kubectl(t, kubectlPath(t), "get", "namespace", "shop"); err == nil || !strings.Contains(out, "NotFound") {
			return out
		}
		return ""
	})
	expect(t, p.mustKubectl(t, "get", "priorityclass", "shop-high", "--ignore-not-found", "-o", "name"), `^$`)
}

// TestRBACDeniesAndAllows: a user made by `svcnet token create user` may
// do nothing but discover and review itself until a binding grants more;
// then exactly what the role says, as kubectl auth can-i, whoami and --as
// report.
func TestRBACDeniesAndAllows(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t), "--proxy", "off")
	out, err := exec.Command(binary, "token", "create", "user", "bob", "--group", "dev", "--data-dir", p.dataDir).CombinedOutput()
	if err != nil {
		t.Fatalf("token create user: %v\n%s", err, out)
	}
	bob := strings.TrimSpace(string(out))
	as := func(args ...string) (string, error) {
		return p.kubectl(t, kubectlPath(t), append([]string{"--kubeconfig", bob}, args...)...)
	}
	if out, _ := as("auth", "whoami"); !strings.Contains(out, "bob") || !strings.Contains(out, "[dev system:authenticated]") {
		t.Fatalf("whoami:\n%s", out)
	}
	out2, err := as("get", "pods")
	if err == nil || !strings.Contains(out2, `User "bob" cannot list resource "pods" in API group "" in the namespace "default"`) {
		t.Fatalf("bob lists pods unbound: %v\n%s", err, out2)
	}
	if out, _ := as("get", "--raw", "/metrics"); !strings.Contains(out, `User "bob" cannot get path "/metrics"`) {
		t.Fatalf("/metrics:\n%s", out)
	}
	if out, err := as("api-resources", "-o", "name"); err != nil || !strings.Contains(out, "deployments.apps") {
		t.Fatalf("discovery: %v\n%s", err, out)
	}
	p.mustKubectl(t, "create", "namespace", "team")
	p.mustKubectl(t, "-n", "team", "create", "rolebinding", "bob-edit", "--clusterrole", "edit", "--group", "dev")
	eventually(t, 10*time.Second, "bob may create deployments in team", func() string {
		if out, err := as("-n", "team", "create", "deployment", "web", "--image", "nginx"); err != nil {
			return out
		}
		return ""
	})
	for _, tc := range []struct{ args, want string }{
		{"-n team auth can-i list secrets", "yes"},
		{"-n team auth can-i create pods/exec", "yes"},
		{"-n team auth can-i create rolebindings", "no"},
		{"-n default auth can-i list pods", "no"},
		{"auth can-i list nodes", "no"},
	} {
		out, _ := as(strings.Fields(tc.args)...)
		if lines := strings.Split(strings.TrimSpace(out), "\n"); lines[len(lines)-1] != tc.want {
			t.Errorf("bob: kubectl %s = %q, want %q", tc.args, strings.TrimSpace(out), tc.want)
		}
	}
	if out, err := as("-n", "default", "delete", "svc", "kubernetes"); err == nil || !strings.Contains(out, "forbidden") {
		t.Fatalf("bob deletes in default: %v\n%s", err, out)
	}
	// The admin impersonates: the answer is bob's.
	expect(t, p.mustKubectl(t, "auth", "can-i", "--as", "bob", "--as-group", "dev", "-n", "team", "delete", "deployments"), `^yes`)
	if out, _ := p.kubectl(t, kubectlPath(t), "auth", "can-i", "--as", "bob", "-n", "team", "delete", "deployments"); strings.TrimSpace(out) != "no" {
		t.Fatalf("bob without the dev group: %q", out)
	}
	// Impersonating needs the right to: bob may not act as the admin.
	if out, err := as("get", "--raw", "/api/v1/namespaces/default/pods", "--as", "admin", "--as-group", "system:masters"); err == nil || !strings.Contains(out, `cannot impersonate resource "users"`) {
		t.Fatalf("bob impersonates: %v\n%s", err, out)
	}
	// Removing the binding takes the rights away.
	p.mustKubectl(t, "-n", "team", "delete", "rolebinding", "bob-edit")
	eventually(t, 10*time.Second, "bob loses the rights", func() string {
		if out, _ := as("-n", "team", "auth", "can-i", "create", "deployments"); strings.TrimSpace(out) != "no" {
			return out
		}
		return ""
	})
}

func repoRoot(t *testing.T) string {
	t.Helper()
	return filepath.Dir(filepath.Dir(seedDir(t)))
}
