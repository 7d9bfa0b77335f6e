package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestJobs: with the process runtime, a Job's pods run to completion with
// their real exit codes: one completes (`kubectl wait
// --for=condition=complete`), one that fails backs off to Failed
// (BackoffLimitExceeded); `kubectl get jobs` reads as in Kubernetes.
func TestJobs(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t), "--runtime", "process", "--proxy", "off")
	p.mustKubectl(t, "create", "job", "ok", "--image=busybox", "--", "sh", "-c", "echo done")
	out, err := p.kubectl(t, kubectlPath(t), "wait", "--for=condition=complete", "job/ok", "--timeout=60s")
	if err != nil {
		t.Fatalf("wait for complete: %v\n%s", err, out)
	}
	expect(t, p.mustKubectl(t, "get", "job", "ok"), `(?m)^ok\s+Complete\s+1/1\s+`)
	expect(t, p.mustKubectl(t, "logs", "job/ok"), `done`)

	manifest := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(manifest, []byte(`apiVersion: batch/v1
kind: Job
metadata: {name: bad}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers: [{name: bad, image: busybox, command: [sh, -c, "exit 3"]}]
`), 0o644)
	p.mustKubectl(t, "apply", "-f", manifest)
	p.awaitKubectl(t, 90*time.Second, "BackoffLimitExceeded", "get", "job", "bad", "-o", `jsonpath={.status.conditions[?(@.type=="Failed")].reason}`)
	expect(t, p.mustKubectl(t, "get", "job", "bad"), `(?m)^bad\s+Failed\s+0/1\s+`)
	expect(t, p.mustKubectl(t, "get", "pods", "-l", "job-name=bad", "-o", "jsonpath={.items[*].status.containerStatuses[0].state.terminated.exitCode}"), `^3 3$`)
}
