package volume

import (
	"path/filepath"
	"sort"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotations the PersistentVolume controller writes, as Kubernetes names them.
const (
	ProvisionedByAnnotation = "pv.kubernetes.io/provisioned-by"
	BindCompletedAnnotation = "pv.kubernetes.io/bind-completed"
	BoundByControllerAnnot  = "pv.kubernetes.io/bound-by-controller"
)

// DefaultClass is the class a claim without one gets: the newest class
// annotated as default.
func DefaultClass(classes []*storagev1.StorageClass) *storagev1.StorageClass {
	var best *storagev1.StorageClass
	for _, c := range classes {
		if c.Annotations["storageclass.kubernetes.io/is-default-class"] != "true" {
			continue
		}
		if best == nil || best.CreationTimestamp.Before(&c.CreationTimestamp) {
			best = c
		}
	}
	return best
}

// VolumeName is the volume provisioned for a claim: pvc-<claim UID>.
func VolumeName(c *corev1.PersistentVolumeClaim) string { return "pvc-" + string(c.UID) }

// Provision is the volume the local provisioner makes for claim: a
// directory of its own under root (<root>/pvc-<uid>_<namespace>_<name>,
// as local-path names it), the size and access modes asked for, already
// bound to the claim.
func Provision(c *corev1.PersistentVolumeClaim, class *storagev1.StorageClass, root string) *corev1.PersistentVolume {
	dir := filepath.Join(root, VolumeName(c)+"_"+c.Namespace+"_"+c.Name)
	t := corev1.HostPathDirectoryOrCreate
	policy := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		policy = *class.ReclaimPolicy
	}
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: VolumeName(c), Annotations: map[string]string{ProvisionedByAnnotation: class.Provisioner}},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: c.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   c.Spec.AccessModes,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &t}},
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              class.Name,
			VolumeMode:                    c.Spec.VolumeMode,
			ClaimRef:                      ClaimRef(c),
		},
	}
}

// ClaimRef is the reference a bound volume holds.
func ClaimRef(c *corev1.PersistentVolumeClaim) *corev1.ObjectReference {
	return &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: c.Namespace, Name: c.Name, UID: c.UID, ResourceVersion: c.ResourceVersion}
}

// Match finds the smallest available volume that satisfies claim: the same
// class, enough capacity, every access mode asked for, not claimed by
// another (or pre-bound to this claim).
func Match(c *corev1.PersistentVolumeClaim, volumes []*corev1.PersistentVolume) *corev1.PersistentVolume {
	class := ""
	if c.Spec.StorageClassName != nil {
		class = *c.Spec.StorageClassName
	}
	want := c.Spec.Resources.Requests[corev1.ResourceStorage]
	var fit []*corev1.PersistentVolume
	for _, v := range volumes {
		if v.DeletionTimestamp != nil || v.Spec.StorageClassName != class {
			continue
		}
		if r := v.Spec.ClaimRef; r != nil && !(r.Namespace == c.Namespace && r.Name == c.Name && (r.UID == "" || r.UID == c.UID)) {
			continue
		}
		if c.Spec.VolumeName != "" && c.Spec.VolumeName != v.Name {
			continue
		}
		have := v.Spec.Capacity[corev1.ResourceStorage]
		if have.Cmp(want) < 0 || !hasModes(v.Spec.AccessModes, c.Spec.AccessModes) {
			continue
		}
		fit = append(fit, v)
	}
	sort.Slice(fit, func(i, j int) bool {
		a, b := fit[i].Spec.Capacity[corev1.ResourceStorage], fit[j].Spec.Capacity[corev1.ResourceStorage]
		if c := a.Cmp(b); c != 0 {
			return c < 0
		}
		return fit[i].Name < fit[j].Name
	})
	if len(fit) == 0 {
		return nil
	}
	return fit[0]
}

func hasModes(have, want []corev1.PersistentVolumeAccessMode) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}
