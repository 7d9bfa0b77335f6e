package process

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// volumeRuntime is a runtime whose config sources are maps.
func volumeRuntime(t *testing.T, data map[string]map[string]string, claims map[string]string) *Runtime {
	return &Runtime{cfg: Config{
		Source: func(ns, kind, name string) (map[string]string, bool, error) {
			d, ok := data[kind+"/"+name]
			return d, ok, nil
		},
		Claim: func(ns, claim string) (string, error) {
			if dir, ok := claims[claim]; ok {
				return dir, nil
			}
			return "", errors.New("persistentvolumeclaim \"" + claim + "\" is not bound")
		},
		Token: func(p *corev1.Pod, aud []string, exp int64) (string, error) {
			return "token-for-" + p.Spec.ServiceAccountName, nil
		},
	}}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPrepareVolumes(t *testing.T) {
	claimDir := t.TempDir()
	r := volumeRuntime(t, map[string]map[string]string{
		"ConfigMap/web":              {"index.html": "<h1>hi</h1>", "app.conf": "mode=fast"},
		"Secret/creds":               {"password": "hunter2"},
		"ConfigMap/kube-root-ca.crt": {"ca.crt": "CA"},
	}, map[string]string{"data": claimDir})
	ps := &pod{dir: t.TempDir(), ip: "10.0.0.5"}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop", Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec: corev1.PodSpec{ServiceAccountName: "app", Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}},
			Volumes: []corev1.Volume{
				{Name: "web", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web"},
					Items: []corev1.KeyToPath{{Key: "app.conf", Path: "conf/app.conf", Mode: ptr.To[int32](0o600)}}}}},
				{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", DefaultMode: ptr.To[int32](0o400)}}},
				{Name: "maybe", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "absent", Optional: ptr.To(true)}}},
				{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
					{Path: "ip", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}},
					{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}}}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}},
				{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
				}}}},
			}}}
	dirs, err := r.prepareVolumes(p, ps)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		filepath.Join(dirs["web"], "conf", "app.conf"): "mode=fast",
		filepath.Join(dirs["creds"], "password"):       "hunter2",
		filepath.Join(dirs["info"], "labels"):          "app=\"web\"\ntier=\"front\"",
		filepath.Join(dirs["info"], "ip"):              "10.0.0.5",
		filepath.Join(dirs["info"], "mem"):             "64Mi",
		filepath.Join(dirs["token"], "token"):          "token-for-app",
		filepath.Join(dirs["token"], "ca.crt"):         "CA",
		filepath.Join(dirs["token"], "namespace"):      "shop",
	} {
		if got := read(t, path); got != want {
			t.Errorf("%s = %q, want %q", path, got, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dirs["web"], "index.html")); !os.IsNotExist(err) {
		t.Error("items list only the keys asked for")
	}
	if fi, _ := os.Stat(filepath.Join(dirs["web"], "conf", "app.conf")); fi.Mode().Perm() != 0o600 {
		t.Errorf("item mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(filepath.Join(dirs["creds"], "password")); fi.Mode().Perm() != 0o400 {
		t.Errorf("defaultMode %v, want 0400", fi.Mode().Perm())
	}
	if dirs["data"] != claimDir {
		t.Errorf("claim at %s, want %s", dirs["data"], claimDir)
	}
	// An emptyDir keeps its files over container starts; a ConfigMap's
	// removed keys go.
	if err := os.WriteFile(filepath.Join(dirs["scratch"], "kept"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.cfg.Source = func(ns, kind, name string) (map[string]string, bool, error) {
		if name == "absent" {
			return nil, false, nil
		}
		return map[string]string{"ca.crt": "CA", "password": "changed"}, true, nil
	}
	p.Spec.Volumes[0].ConfigMap.Items = nil
	if dirs, err = r.prepareVolumes(p, ps); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dirs["scratch"], "kept")); err != nil {
		t.Error("the emptyDir lost its file")
	}
	if _, err := os.Stat(filepath.Join(dirs["web"], "conf", "app.conf")); !os.IsNotExist(err) {
		t.Error("a file no longer listed stays")
	}
	if got := read(t, filepath.Join(dirs["creds"], "password")); got != "changed" {
		t.Errorf("updated secret reads %q", got)
	}

	// What is not there yet waits.
	for name, v := range map[string]corev1.VolumeSource{
		"unbound claim":     {PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "later"}},
		"missing configmap": {ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}}},
	} {
		q := p.DeepCopy()
		q.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: v}}
		_, err := r.prepareVolumes(q, ps)
		var ve *volumeError
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), `MountVolume.SetUp failed for volume "v"`) {
			t.Errorf("%s: %v, want a volumeError", name, err)
		}
	}
}

func TestMountsFor(t *testing.T) {
	dirs := map[string]string{"data": t.TempDir()}
	ms, err := mountsFor(corev1.Container{VolumeMounts: []corev1.VolumeMount{
		{Name: "data", MountPath: "/var/lib/db", ReadOnly: true},
		{Name: "data", MountPath: "/etc/app", SubPath: "conf"},
	}}, dirs)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0] != (Mount{Source: dirs["data"], Target: "/var/lib/db", ReadOnly: true}) || ms[1].Source != filepath.Join(dirs["data"], "conf") {
		t.Fatalf("mounts %+v", ms)
	}
	if fi, err := os.Stat(ms[1].Source); err != nil || !fi.IsDir() {
		t.Fatal("a subPath is made")
	}
	for _, bad := range []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}, {Name: "data", MountPath: "/x", SubPath: "../escape"}} {
		if _, err := mountsFor(corev1.Container{VolumeMounts: []corev1.VolumeMount{bad}}, dirs); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

func TestWriteFilesRefusesEscapes(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"../x", "/etc/passwd", "a/../../x", "."} {
		if err := writeFiles(filepath.Join(dir, "v"), map[string]fileContent{name: {[]byte("x"), 0o644}}); err == nil {
			t.Errorf("%q written", name)
		}
	}
}
