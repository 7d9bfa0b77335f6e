package volume

import (
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func claim(class string, size string, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "ns", UID: "uid1"},
		Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &class, AccessModes: modes,
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}}}}
}

func pv(name, class, size string, ref *corev1.ObjectReference, modes ...corev1.PersistentVolumeAccessMode) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PersistentVolumeSpec{StorageClassName: class,
		Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}, AccessModes: modes, ClaimRef: ref}}
}

func TestMatch(t *testing.T) {
	rwo, rwx := corev1.ReadWriteOnce, corev1.ReadWriteMany
	other := &corev1.ObjectReference{Namespace: "ns", Name: "other", UID: "uid2"}
	preBound := &corev1.ObjectReference{Namespace: "ns", Name: "data"}
	for _, tc := range []struct {
		name    string
		claim   *corev1.PersistentVolumeClaim
		volumes []*corev1.PersistentVolume
		want    string
	}{
		{"smallest that fits", claim("", "1Gi", rwo), []*corev1.PersistentVolume{pv("big", "", "10Gi", nil, rwo), pv("small", "", "2Gi", nil, rwo), pv("tiny", "", "500Mi", nil, rwo)}, "small"},
		{"class must match", claim("fast", "1Gi", rwo), []*corev1.PersistentVolume{pv("slow", "", "2Gi", nil, rwo)}, ""},
		{"modes must be offered", claim("", "1Gi", rwx), []*corev1.PersistentVolume{pv("rwo", "", "2Gi", nil, rwo), pv("both", "", "5Gi", nil, rwo, rwx)}, "both"},
		{"claimed by another", claim("", "1Gi", rwo), []*corev1.PersistentVolume{pv("taken", "", "2Gi", other, rwo)}, ""},
		{"pre-bound to this claim", claim("", "1Gi", rwo), []*corev1.PersistentVolume{pv("mine", "", "2Gi", preBound, rwo)}, "mine"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if v := Match(tc.claim, tc.volumes); v != nil {
				got = v.Name
			}
			if got != tc.want {
				t.Fatalf("matched %q, want %q", got, tc.want)
			}
		})
	}
}

func TestProvision(t *testing.T) {
	c := claim("local-path", "3Gi", corev1.ReadWriteOnce)
	class := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "local-path"}, Provisioner: Provisioner,
		ReclaimPolicy: ptr.To(corev1.PersistentVolumeReclaimRetain)}
	v := Provision(c, class, "/var/svcnet/storage")
	if v.Name != "pvc-uid1" || v.Spec.HostPath == nil || v.Spec.HostPath.Path != filepath.Join("/var/svcnet/storage", "pvc-uid1_ns_data") {
		t.Fatalf("volume %s at %+v", v.Name, v.Spec.HostPath)
	}
	if q := v.Spec.Capacity[corev1.ResourceStorage]; q.String() != "3Gi" || v.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		t.Fatalf("capacity %s policy %s", q.String(), v.Spec.PersistentVolumeReclaimPolicy)
	}
	if v.Spec.ClaimRef.UID != "uid1" || Match(c, []*corev1.PersistentVolume{v}) != v {
		t.Fatal("a provisioned volume is bound to its claim and matches it")
	}
	ctl := &Controller{root: "/var/svcnet/storage"}
	for path, want := range map[string]bool{v.Spec.HostPath.Path: true, "/var/svcnet/storage": false, "/etc": false, "/var/svcnet/storage/pvc-x/../../x": false} {
		if ctl.owns(filepath.Clean(path)) != want {
			t.Fatalf("owns(%s) != %v", path, want)
		}
	}
}

func TestDefaultClass(t *testing.T) {
	mk := func(name string, def bool, age int) *storagev1.StorageClass {
		c := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.Unix(int64(age), 0)}}
		if def {
			c.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
		}
		return c
	}
	if got := DefaultClass([]*storagev1.StorageClass{mk("a", true, 1), mk("b", true, 2), mk("c", false, 3)}); got == nil || got.Name != "b" {
		t.Fatalf("default %v, want the newest default b", got)
	}
	if DefaultClass([]*storagev1.StorageClass{mk("c", false, 3)}) != nil {
		t.Fatal("no default class")
	}
}
