package e2e

import (
	"testing"
	"time"
)

// TestPodsReadConfigMapsAndSecrets: a process pod's environment from a
// ConfigMap and a Secret (envFrom and valueFrom), as applied by the real
// kubectl; a pod naming a ConfigMap that does not exist waits with
// CreateContainerConfigError until it does.
func TestPodsReadConfigMapsAndSecrets(t *testing.T) {
	p := startSvcnet(t, t.TempDir(), freePort(t), "--runtime", "process", "--proxy", "off")
	p.mustKubectl(t, "create", "configmap", "settings", "--from-literal=MODE=fast", "--from-literal=LEVEL=3")
	p.mustKubectl(t, "create", "secret", "generic", "creds", "--from-literal=password=s3cret")
	expect(t, p.mustKubectl(t, "get", "configmap", "settings"), `settings\s+2\s+`)
	expect(t, p.mustKubectl(t, "get", "secret", "creds"), `creds\s+Opaque\s+1\s+`)
	p.mustKubectl(t, "run", "reader", "--image=busybox", "--restart=Never", "--overrides", `{"spec":{"containers":[{"name":"reader","image":"busybox",
		"command":["sh","-c","echo mode=$CFG_MODE level=$LEVEL password=$DB_PASSWORD"],
		"envFrom":[{"prefix":"CFG_","configMapRef":{"name":"settings"}}],
		"env":[{"name":"LEVEL","valueFrom":{"configMapKeyRef":{"name":"settings","key":"LEVEL"}}},
		       {"name":"DB_PASSWORD","valueFrom":{"secretKeyRef":{"name":"creds","key":"password"}}}]}]}}`)
	p.awaitKubectl(t, 60*time.Second, "Succeeded", "get", "pod", "reader", "-o", "jsonpath={.status.phase}")
	expect(t, p.mustKubectl(t, "logs", "reader"), `mode=fast level=3 password=s3cret`)

	p.mustKubectl(t, "run", "waiting", "--image=busybox", "--restart=Never", "--overrides", `{"spec":{"containers":[{"name":"waiting","image":"busybox",
		"command":["sh","-c","echo got $LATE"], "env":[{"name":"LATE","valueFrom":{"configMapKeyRef":{"name":"later","key":"v"}}}]}]}}`)
	p.awaitKubectl(t, 30*time.Second, "CreateContainerConfigError", "get", "pod", "waiting", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}")
	p.mustKubectl(t, "create", "configmap", "later", "--from-literal=v=now")
	p.awaitKubectl(t, 60*time.Second, "Succeeded", "get", "pod", "waiting", "-o", "jsonpath={.status.phase}")
	expect(t, p.mustKubectl(t, "logs", "waiting"), `got now`)
}
