package process

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Volumes: each of a pod's volumes is a directory under its pod's
// directory (<pod>/volumes/<name>), or, for a PersistentVolumeClaim or a
// hostPath, the directory the volume is. ConfigMap, Secret, downwardAPI
// and projected volumes are written there at each container start;
// emptyDir keeps its files over restarts and goes with the pod. Containers
// see them at their mountPath when the runtime gives them mount namespaces
// (as root, or in user namespaces); otherwise only in the pod's directory.

// Mount is one volume bound at a path in a container's mount namespace.
type Mount struct {
	Source, Target string
	ReadOnly       bool
}

// volumeDir is the directory of a pod's volume kept under its pod's dir.
func volumeDir(ps *pod, name string) string { return filepath.Join(ps.dir, "volumes", name) }

// volumeError is a volume that cannot be set up yet (a claim not bound, a
// ConfigMap or Secret missing): the container waits in ContainerCreating
// and the runtime tries again shortly, as a kubelet retries mounts.
type volumeError struct{ err error }

func (e *volumeError) Error() string { return e.err.Error() }
func (e *volumeError) Unwrap() error { return e.err }

// volumeRetry is how soon a waiting volume is tried again.
const volumeRetry = 2 * time.Second

// prepareVolumes writes or finds every volume of p; it returns each
// volume's directory by name. What cannot be set up yet is a volumeError.
func (r *Runtime) prepareVolumes(p *corev1.Pod, ps *pod) (map[string]string, error) {
	dirs := map[string]string{}
	for _, v := range p.Spec.Volumes {
		dir := volumeDir(ps, v.Name)
		var files map[string]fileContent
		var err error
		switch {
		case v.EmptyDir != nil:
			err = os.MkdirAll(dir, 0o777)
		case v.HostPath != nil:
			dir = v.HostPath.Path
			if t := v.HostPath.Type; t != nil && (*t == corev1.HostPathDirectoryOrCreate) {
				err = os.MkdirAll(dir, 0o755)
			}
		case v.PersistentVolumeClaim != nil:
			if r.cfg.Claim == nil {
				err = &configError{errors.New("this node cannot mount claims")}
				break
			}
			if dir, err = r.cfg.Claim(p.Namespace, v.PersistentVolumeClaim.ClaimName); err != nil {
				err = &configError{err}
				break
			}
			err = os.MkdirAll(dir, 0o777)
		case v.ConfigMap != nil:
			files, err = r.keyFiles(p.Namespace, "ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, v.ConfigMap.DefaultMode)
		case v.Secret != nil:
			files, err = r.keyFiles(p.Namespace, "Secret", v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, v.Secret.DefaultMode)
		case v.DownwardAPI != nil:
			files = downwardFiles(p, ps, v.DownwardAPI.Items, v.DownwardAPI.DefaultMode)
		case v.Projected != nil:
			files, err = r.projectedFiles(p, ps, v.Projected)
		default:
			// Volume types of other providers (nfs, csi, …) are not mounted:
			// an empty directory stands in.
			err = os.MkdirAll(dir, 0o777)
		}
		if err != nil {
			var ce *configError
			if errors.As(err, &ce) {
				return nil, &volumeError{fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, ce.err)}
			}
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		if files != nil {
			if err := writeFiles(dir, files); err != nil {
				return nil, fmt.Errorf("volume %q: %w", v.Name, err)
			}
		}
		dirs[v.Name] = dir
	}
	return dirs, nil
}

type fileContent struct {
	data []byte
	mode os.FileMode
}

func mode(m *int32, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m) & 0o777
}

// keyFiles are a ConfigMap's or Secret's keys as files: every key under its
// own name, or the items listed at their paths.
func (r *Runtime) keyFiles(ns, kind, name string, items []corev1.KeyToPath, optional *bool, defMode *int32) (map[string]fileContent, error) {
	if r.cfg.Source == nil {
		return nil, &configError{fmt.Errorf("%s %q: this node cannot read it", strings.ToLower(kind), name)}
	}
	data, found, err := r.cfg.Source(ns, kind, name)
	if err != nil {
		return nil, err
	}
	if !found {
		if optional != nil && *optional {
			return map[string]fileContent{}, nil
		}
		return nil, &configError{fmt.Errorf("%s %q not found", strings.ToLower(kind), name)}
	}
	def := mode(defMode, 0o644)
	files := map[string]fileContent{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = fileContent{[]byte(v), def}
		}
		return files, nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return nil, &configError{fmt.Errorf("%s %q has no key %q", strings.ToLower(kind), name, it.Key)}
		}
		files[it.Path] = fileContent{[]byte(v), mode(it.Mode, def)}
	}
	return files, nil
}

func downwardFiles(p *corev1.Pod, ps *pod, items []corev1.DownwardAPIVolumeFile, defMode *int32) map[string]fileContent {
	def := mode(defMode, 0o644)
	files := map[string]fileContent{}
	for _, it := range items {
		var v string
		switch {
		case it.FieldRef != nil && it.FieldRef.FieldPath == "metadata.labels":
			v = keyValues(p.Labels)
		case it.FieldRef != nil && it.FieldRef.FieldPath == "metadata.annotations":
			v = keyValues(p.Annotations)
		case it.FieldRef != nil:
			v = fieldRef(p, ps, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v = resourceFieldRef(p, it.ResourceFieldRef)
		}
		files[it.Path] = fileContent{[]byte(v), mode(it.Mode, def)}
	}
	return files
}

// keyValues prints labels or annotations as Kubernetes writes them to a
// downward API file: key="value" lines, sorted.
func keyValues(m map[string]string) string {
	var lines []string
	for k, v := range m {
		lines = append(lines, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func resourceFieldRef(p *corev1.Pod, ref *corev1.ResourceFieldSelector) string {
	for _, c := range p.Spec.Containers {
		if ref.ContainerName != "" && c.Name != ref.ContainerName {
			continue
		}
		res, which, _ := strings.Cut(ref.Resource, ".")
		list := c.Resources.Limits
		if res == "requests" {
			list = c.Resources.Requests
		}
		if q, ok := list[corev1.ResourceName(which)]; ok {
			return q.String()
		}
		return "0"
	}
	return "0"
}

// projectedFiles merges the sources of a projected volume: ConfigMaps,
// Secrets, downward API items and a service account token.
func (r *Runtime) projectedFiles(p *corev1.Pod, ps *pod, v *corev1.ProjectedVolumeSource) (map[string]fileContent, error) {
	files := map[string]fileContent{}
	def := mode(v.DefaultMode, 0o644)
	for _, src := range v.Sources {
		var part map[string]fileContent
		var err error
		switch {
		case src.ConfigMap != nil:
			part, err = r.keyFiles(p.Namespace, "ConfigMap", src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional, &[]int32{int32(def)}[0])
		case src.Secret != nil:
			part, err = r.keyFiles(p.Namespace, "Secret", src.Secret.Name, src.Secret.Items, src.Secret.Optional, &[]int32{int32(def)}[0])
		case src.DownwardAPI != nil:
			part = downwardFiles(p, ps, src.DownwardAPI.Items, &[]int32{int32(def)}[0])
		case src.ServiceAccountToken != nil:
			if r.cfg.Token == nil {
				return nil, &configError{errors.New("this node cannot issue service account tokens")}
			}
			exp := int64(3600)
			if src.ServiceAccountToken.ExpirationSeconds != nil {
				exp = *src.ServiceAccountToken.ExpirationSeconds
			}
			var aud []string
			if src.ServiceAccountToken.Audience != "" {
				aud = []string{src.ServiceAccountToken.Audience}
			}
			tok, terr := r.cfg.Token(p, aud, exp)
			if terr != nil {
				return nil, &configError{fmt.Errorf("service account token: %w", terr)}
			}
			part = map[string]fileContent{src.ServiceAccountToken.Path: {[]byte(tok), 0o600 & def}}
		}
		if err != nil {
			return nil, err
		}
		for k, f := range part {
			files[k] = f
		}
	}
	return files, nil
}

// writeFiles writes a volume's files (relative paths) into dir in place —
// each file replaced whole, files no longer listed removed — so running
// containers that bind the directory see the new content.
func writeFiles(dir string, files map[string]fileContent) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	keep := map[string]bool{}
	for name, f := range files {
		if filepath.IsAbs(name) || slices.Contains(strings.Split(name, "/"), "..") || path.Clean(name) == "." {
			return fmt.Errorf("bad file name %q", name)
		}
		target := filepath.Join(dir, path.Clean(name))
		keep[target] = true
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		tmp := target + ".svcnet-new"
		if err := os.WriteFile(tmp, f.data, f.mode|0o400); err != nil {
			return err
		}
		if err := os.Chmod(tmp, f.mode|0o400); err != nil {
			return err
		}
		if err := os.Rename(tmp, target); err != nil {
			return err
		}
	}
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || keep[p] {
			return err
		}
		return os.Remove(p)
	})
}

// mountsFor are a container's volumeMounts, each bound from its volume's
// directory (or a subPath of it).
func mountsFor(spec corev1.Container, dirs map[string]string) ([]Mount, error) {
	var out []Mount
	for _, m := range spec.VolumeMounts {
		src, ok := dirs[m.Name]
		if !ok {
			return nil, &configError{fmt.Errorf("volumeMount %q: no volume of that name", m.Name)}
		}
		if m.SubPath != "" {
			if strings.Contains(m.SubPath, "..") || filepath.IsAbs(m.SubPath) {
				return nil, &configError{fmt.Errorf("volumeMount %q: bad subPath %q", m.Name, m.SubPath)}
			}
			src = filepath.Join(src, m.SubPath)
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o777); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, Mount{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly})
	}
	return out, nil
}
