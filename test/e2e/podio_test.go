package e2e

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestPodsUseVolumesTokensAndStreams, process runtime: a pod reads a
// ConfigMap, a Secret and the downward API as files at their mountPaths,
// keeps an emptyDir and a claim's files; a program in a pod (kubectl, by
// client-go's in-cluster config) lists Services with its ServiceAccount's
// token once RBAC lets it; kubectl exec, cp and port-forward (WebSocket and
// SPDY) work; a failing probe posts Unhealthy events; a StatefulSet's pods
// find their own data after a restart.
func TestPodsUseVolumesTokensAndStreams(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("volumes at their mountPaths need the pods' own mount namespaces (root); CI runs as root")
	}
	p := startSvcnet(t, t.TempDir(), freePort(t), "--runtime", "process", "--log-level", "debug")
	t.Cleanup(func() {
		if t.Failed() {
			out := p.output()
			t.Logf("server output (last 20000 bytes):\n%s", out[max(0, len(out)-20000):])
		}
	})
	manifest := filepath.Join(t.TempDir(), "pods.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: v1
kind: ConfigMap
metadata: {name: web}
data: {index.html: "<h1>from a configmap</h1>"}
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
stringData: {password: hunter2}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: vols, labels: {app: vols}}
spec:
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", "cat /etc/web/index.html /etc/creds/password /etc/podinfo/labels; echo; echo line >> /data/log; wc -l < /data/log; sleep 3600"]
    volumeMounts:
    - {name: web, mountPath: /etc/web}
    - {name: creds, mountPath: /etc/creds, readOnly: true}
    - {name: podinfo, mountPath: /etc/podinfo}
    - {name: data, mountPath: /data}
    - {name: scratch, mountPath: /scratch}
  volumes:
  - {name: web, configMap: {name: web}}
  - {name: creds, secret: {secretName: creds}}
  - {name: podinfo, downwardAPI: {items: [{path: labels, fieldRef: {fieldPath: metadata.labels}}]}}
  - {name: data, persistentVolumeClaim: {claimName: data}}
  - {name: scratch, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata: {name: db}
spec:
  clusterIP: None
  selector: {app: db}
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers:
      - name: db
        image: busybox
        command: ["sh", "-c", "[ -f /var/lib/db/owner ] || hostname > /var/lib/db/owner; echo owner=$(cat /var/lib/db/owner); sleep 3600"]
        volumeMounts: [{name: data, mountPath: /var/lib/db}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	p.mustKubectl(t, "apply", "-f", manifest)
	p.awaitKubectl(t, 60*time.Second, "True", "get", "pod", "vols", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
	eventually(t, 10*time.Second, "the pod's files in its log", func() string {
		out, _ := p.kubectl(t, kubectlPath(t), "logs", "vols")
		if !strings.Contains(out, "<h1>from a configmap</h1>hunter2app=\"vols\"\n1") {
			return out
		}
		return ""
	})
	// The token volume Kubernetes adds, and what is in it.
	expect(t, p.mustKubectl(t, "get", "pod", "vols", "-o", "jsonpath={.spec.volumes[*].name}"), `kube-api-access-[a-z0-9]{5}`)
	expect(t, p.mustKubectl(t, "exec", "vols", "--", "ls", "/var/run/secrets/kubernetes.io/serviceaccount"), `ca.crt\s+namespace\s+token`)
	expect(t, p.mustKubectl(t, "exec", "vols", "--", "cat", "/var/run/secrets/kubernetes.io/serviceaccount/namespace"), `^default$`)
	// A read-only volume is read-only; an emptyDir is writable.
	if out, err := p.kubectl(t, kubectlPath(t), "exec", "vols", "--", "sh", "-c", "echo x > /etc/creds/new"); err == nil {
		t.Fatalf("wrote into a read-only volume: %s", out)
	}
	// cp both ways.
	local := filepath.Join(t.TempDir(), "index.html")
	p.mustKubectl(t, "cp", "vols:/etc/web/index.html", local)
	if b, err := os.ReadFile(local); err != nil || string(b) != "<h1>from a configmap</h1>" {
		t.Fatalf("cp from the pod: %q %v", b, err)
	}
	p.mustKubectl(t, "cp", manifest, "vols:/scratch/pods.yaml")
	expect(t, p.mustKubectl(t, "exec", "vols", "--", "grep", "-c", "kind:", "/scratch/pods.yaml"), `^6\s*$`) // the six objects of the manifest
	// The claim's data outlives the pod.
	p.mustKubectl(t, "delete", "pod", "vols", "--grace-period=1")
	p.mustKubectl(t, "apply", "-f", manifest)
	eventually(t, 60*time.Second, "the claim's file has two lines", func() string {
		out, _ := p.kubectl(t, kubectlPath(t), "logs", "vols")
		if !strings.HasSuffix(strings.TrimSpace(out), "\n2") {
			return out
		}
		return ""
	})

	// In-cluster config: denied until bound, then allowed.
	incluster := `{"spec":{"containers":[{"name":"k","image":"bitnami/kubectl","command":["kubectl","get","services","-A","-o","name"]}]}}`
	p.mustKubectl(t, "run", "lister", "--image=bitnami/kubectl", "--restart=Never", "--overrides", incluster)
	p.awaitKubectl(t, 60*time.Second, "Failed", "get", "pod", "lister", "-o", "jsonpath={.status.phase}")
	expect(t, p.mustKubectl(t, "logs", "lister"), `User "system:serviceaccount:default:default" cannot list resource "services"`)
	p.mustKubectl(t, "create", "clusterrolebinding", "default-view", "--clusterrole", "view", "--serviceaccount", "default:default")
	p.mustKubectl(t, "delete", "pod", "lister")
	p.mustKubectl(t, "run", "lister", "--image=bitnami/kubectl", "--restart=Never", "--overrides", incluster)
	p.awaitKubectl(t, 60*time.Second, "Succeeded", "get", "pod", "lister", "-o", "jsonpath={.status.phase}")
	expect(t, p.mustKubectl(t, "logs", "lister"), `service/kubernetes`, `service/kube-dns`)

	// port-forward, by WebSocket (this kubectl) and by SPDY (kubectl 1.28).
	p.mustKubectl(t, "create", "deployment", "web", "--image=nginx")
	p.mustKubectl(t, "rollout", "status", "deployment", "web", "--timeout=60s")
	for _, k := range []string{kubectlPath(t), versionedKubectl(t, "28")} {
		portForward(t, p, k, "deployment/web", "80", "web-")
	}

	// A failing probe says so in the pod's events, as a kubelet does.
	p.mustKubectl(t, "run", "unready", "--image=nginx", "--overrides",
		`{"spec":{"containers":[{"name":"unready","image":"nginx","readinessProbe":{"periodSeconds":1,"tcpSocket":{"port":9999}}}]}}`)
	eventually(t, 30*time.Second, "an Unhealthy event", func() string {
		out, _ := p.kubectl(t, kubectlPath(t), "get", "events", "--field-selector", "involvedObject.name=unready,reason=Unhealthy", "-o", "jsonpath={.items[*].message}")
		if !strings.Contains(out, "Readiness probe failed: ") {
			return out
		}
		return ""
	})

	// A StatefulSet's pod finds its own data after it is replaced.
	p.awaitKubectl(t, 90*time.Second, "2", "get", "sts", "db", "-o", "jsonpath={.status.readyReplicas}")
	eventually(t, 10*time.Second, "db-1 wrote its owner", func() string {
		out, _ := p.kubectl(t, kubectlPath(t), "logs", "db-1")
		if !strings.Contains(out, "owner=db-1") {
			return out
		}
		return ""
	})
	p.mustKubectl(t, "delete", "pod", "db-0", "db-1", "--grace-period=1")
	p.awaitKubectl(t, 90*time.Second, "2", "get", "sts", "db", "-o", "jsonpath={.status.readyReplicas}")
	for _, pod := range []string{"db-0", "db-1"} {
		eventually(t, 20*time.Second, pod+" reads its own data", func() string {
			out, _ := p.kubectl(t, kubectlPath(t), "logs", pod)
			if strings.TrimSpace(out) != "owner="+pod {
				return out
			}
			return ""
		})
	}
}

// portForward runs `kubectl port-forward target :port` and fetches the
// local port it chose, twice, expecting the greeting of a pod named want….
func portForward(t *testing.T, p *proc, kubectl, target, port, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", p.kubeconfig, "port-forward", target, ":"+port)
	stdout, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`)
	sc := bufio.NewScanner(stdout)
	local := ""
	for local == "" && sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			local = m[1]
		}
	}
	if local == "" {
		t.Fatalf("%s port-forward printed no local port: %s", kubectl, stderr.String())
	}
	for i := 0; i < 2; i++ { // two connections over one forward
		body, err := get("http://127.0.0.1:" + local + "/")
		if err != nil || !strings.HasPrefix(body, want) {
			t.Fatalf("%s port-forward: %q %v\n%s", kubectl, body, err, stderr.String())
		}
	}
}
