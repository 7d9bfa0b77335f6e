package registry

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The annotations a StorageClass and a claim carry, as Kubernetes names them.
const (
	DefaultStorageClassAnnotation = "storageclass.kubernetes.io/is-default-class"
)

// The default StorageClass and its provisioner (internal/controller/volume):
// each claim gets a directory of its own on the node.
const (
	LocalStorageClassName = "local-path"
	LocalProvisioner      = "svcnet.io/local-path"
)

// LocalStorageClass is the default class svcnet bootstraps, as k3s has
// local-path and kind has standard.
func LocalStorageClass() *storagev1.StorageClass {
	del, mode := corev1.PersistentVolumeReclaimDelete, storagev1.VolumeBindingImmediate
	return &storagev1.StorageClass{
		ObjectMeta:  metav1.ObjectMeta{Name: LocalStorageClassName, Annotations: map[string]string{DefaultStorageClassAnnotation: "true"}},
		Provisioner: LocalProvisioner, ReclaimPolicy: &del, VolumeBindingMode: &mode,
	}
}

var accessModes = []string{string(corev1.ReadWriteOnce), string(corev1.ReadOnlyMany), string(corev1.ReadWriteMany), string(corev1.ReadWriteOncePod)}

func persistentVolumeResource() *Resource {
	return &Resource{
		GVR: gvr("", "v1", "persistentvolumes"), Kind: "PersistentVolume", ListKind: "PersistentVolumeList",
		Singular: "persistentvolume", ShortNames: []string{"pv"}, Subresources: []string{"status"},
		New:     func() runtime.Object { return &corev1.PersistentVolume{} },
		NewList: func() runtime.Object { return &corev1.PersistentVolumeList{} },
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*corev1.PersistentVolume).Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
		},
		Default: func(obj runtime.Object) {
			pv := obj.(*corev1.PersistentVolume)
			if pv.Spec.PersistentVolumeReclaimPolicy == "" {
				pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
			}
			if pv.Spec.VolumeMode == nil {
				fs := corev1.PersistentVolumeFilesystem
				pv.Spec.VolumeMode = &fs
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return ValidatePersistentVolumeSpec(&obj.(*corev1.PersistentVolume).Spec, field.NewPath("spec"))
		},
		Table: pvTable,
	}
}

// ValidatePersistentVolumeSpec checks what Kubernetes checks: access modes,
// a storage capacity, exactly one volume source, a reclaim policy.
func ValidatePersistentVolumeSpec(s *corev1.PersistentVolumeSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, validateAccessModes(s.AccessModes, p.Child("accessModes"))...)
	if q, ok := s.Capacity[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(p.Child("capacity"), "must specify a capacity"))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(p.Child("capacity").Key(string(corev1.ResourceStorage)), q.String(), "must be greater than zero"))
	}
	sources := 0
	if s.HostPath != nil {
		sources++
		if s.HostPath.Path == "" {
			errs = append(errs, field.Required(p.Child("hostPath", "path"), ""))
		}
	}
	if s.Local != nil {
		sources++
		if s.Local.Path == "" {
			errs = append(errs, field.Required(p.Child("local", "path"), ""))
		}
	}
	for _, set := range []bool{s.NFS != nil, s.CSI != nil, s.ISCSI != nil, s.FC != nil, s.AWSElasticBlockStore != nil, s.GCEPersistentDisk != nil,
		s.AzureDisk != nil, s.AzureFile != nil, s.CephFS != nil, s.RBD != nil, s.Cinder != nil, s.FlexVolume != nil, s.Glusterfs != nil,
		s.VsphereVolume != nil, s.Quobyte != nil, s.PortworxVolume != nil, s.ScaleIO != nil, s.StorageOS != nil, s.PhotonPersistentDisk != nil, s.Flocker != nil} {
		if set {
			sources++
		}
	}
	switch {
	case sources == 0:
		errs = append(errs, field.Required(p, "must specify a volume type"))
	case sources > 1:
		errs = append(errs, field.Forbidden(p, "may not specify more than 1 volume type"))
	}
	switch rp := s.PersistentVolumeReclaimPolicy; rp {
	case corev1.PersistentVolumeReclaimRetain, corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle:
	default:
		errs = append(errs, field.NotSupported(p.Child("persistentVolumeReclaimPolicy"), rp, []string{"Delete", "Recycle", "Retain"}))
	}
	if s.StorageClassName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(s.StorageClassName, false) {
			errs = append(errs, field.Invalid(p.Child("storageClassName"), s.StorageClassName, msg))
		}
	}
	return errs
}

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, p *field.Path) field.ErrorList {
	if len(modes) == 0 {
		return field.ErrorList{field.Required(p, "at least 1 access mode is required")}
	}
	var errs field.ErrorList
	for _, m := range modes {
		switch m {
		case corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany:
		case corev1.ReadWriteOncePod:
			if len(modes) > 1 {
				errs = append(errs, field.Forbidden(p, "may not use ReadWriteOncePod with other access modes"))
			}
		default:
			errs = append(errs, field.NotSupported(p, m, accessModes))
		}
	}
	return errs
}

func persistentVolumeClaimResource() *Resource {
	return &Resource{
		GVR: gvr("", "v1", "persistentvolumeclaims"), Kind: "PersistentVolumeClaim", ListKind: "PersistentVolumeClaimList",
		Singular: "persistentvolumeclaim", Namespaced: true, ShortNames: []string{"pvc"}, Subresources: []string{"status"},
		New:     func() runtime.Object { return &corev1.PersistentVolumeClaim{} },
		NewList: func() runtime.Object { return &corev1.PersistentVolumeClaimList{} },
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*corev1.PersistentVolumeClaim).Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
		},
		Default: func(obj runtime.Object) {
			c := obj.(*corev1.PersistentVolumeClaim)
			if c.Spec.VolumeMode == nil {
				fs := corev1.PersistentVolumeFilesystem
				c.Spec.VolumeMode = &fs
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			return ValidatePersistentVolumeClaimSpec(&obj.(*corev1.PersistentVolumeClaim).Spec, field.NewPath("spec"))
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			n, o := obj.(*corev1.PersistentVolumeClaim), old.(*corev1.PersistentVolumeClaim)
			errs := ValidatePersistentVolumeClaimSpec(&n.Spec, field.NewPath("spec"))
			// Only the requested size (growing) and a first binding may change.
			ns, os := n.Spec.DeepCopy(), o.Spec.DeepCopy()
			ns.Resources.Requests, os.Resources.Requests = nil, nil
			if os.VolumeName == "" {
				os.VolumeName = ns.VolumeName
			}
			if os.StorageClassName == nil {
				os.StorageClassName = ns.StorageClassName
			}
			if !apiequality.Semantic.DeepEqual(ns, os) {
				errs = append(errs, field.Forbidden(field.NewPath("spec"), "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
			}
			nq, oq := n.Spec.Resources.Requests[corev1.ResourceStorage], o.Spec.Resources.Requests[corev1.ResourceStorage]
			if nq.Cmp(oq) < 0 {
				errs = append(errs, field.Forbidden(field.NewPath("spec", "resources", "requests", "storage"), "field can not be less than status.capacity"))
			}
			return errs
		},
		Table: pvcTable,
	}
}

// ValidatePersistentVolumeClaimSpec checks access modes and a positive
// storage request.
func ValidatePersistentVolumeClaimSpec(s *corev1.PersistentVolumeClaimSpec, p *field.Path) field.ErrorList {
	errs := validateAccessModes(s.AccessModes, p.Child("accessModes"))
	if q, ok := s.Resources.Requests[corev1.ResourceStorage]; !ok {
		errs = append(errs, field.Required(p.Child("resources").Key(string(corev1.ResourceStorage)), ""))
	} else if q.Sign() <= 0 {
		errs = append(errs, field.Invalid(p.Child("resources").Key(string(corev1.ResourceStorage)), q.String(), "must be greater than zero"))
	}
	if s.StorageClassName != nil && *s.StorageClassName != "" {
		for _, msg := range apivalidation.NameIsDNSSubdomain(*s.StorageClassName, false) {
			errs = append(errs, field.Invalid(p.Child("storageClassName"), *s.StorageClassName, msg))
		}
	}
	return errs
}

func storageClassResource() *Resource {
	return &Resource{
		GVR: gvr("storage.k8s.io", "v1", "storageclasses"), Kind: "StorageClass", ListKind: "StorageClassList",
		Singular: "storageclass", ShortNames: []string{"sc"},
		New:     func() runtime.Object { return &storagev1.StorageClass{} },
		NewList: func() runtime.Object { return &storagev1.StorageClassList{} },
		Default: func(obj runtime.Object) {
			sc := obj.(*storagev1.StorageClass)
			if sc.ReclaimPolicy == nil {
				d := corev1.PersistentVolumeReclaimDelete
				sc.ReclaimPolicy = &d
			}
			if sc.VolumeBindingMode == nil {
				m := storagev1.VolumeBindingImmediate
				sc.VolumeBindingMode = &m
			}
		},
		Validate: func(obj runtime.Object) field.ErrorList {
			sc := obj.(*storagev1.StorageClass)
			var errs field.ErrorList
			if sc.Provisioner == "" {
				errs = append(errs, field.Required(field.NewPath("provisioner"), ""))
			} else if len(sc.Provisioner) > 63 {
				errs = append(errs, field.TooLong(field.NewPath("provisioner"), sc.Provisioner, 63))
			}
			if rp := *sc.ReclaimPolicy; rp != corev1.PersistentVolumeReclaimDelete && rp != corev1.PersistentVolumeReclaimRetain {
				errs = append(errs, field.NotSupported(field.NewPath("reclaimPolicy"), rp, []string{"Delete", "Retain"}))
			}
			if m := *sc.VolumeBindingMode; m != storagev1.VolumeBindingImmediate && m != storagev1.VolumeBindingWaitForFirstConsumer {
				errs = append(errs, field.NotSupported(field.NewPath("volumeBindingMode"), m, []string{"Immediate", "WaitForFirstConsumer"}))
			}
			return errs
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			n, o := obj.(*storagev1.StorageClass), old.(*storagev1.StorageClass)
			var errs field.ErrorList
			if n.Provisioner != o.Provisioner {
				errs = append(errs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
			}
			if !apiequality.Semantic.DeepEqual(n.Parameters, o.Parameters) {
				errs = append(errs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
			}
			if *n.ReclaimPolicy != *o.ReclaimPolicy {
				errs = append(errs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
			}
			errs = append(errs, apivalidation.ValidateImmutableField(n.VolumeBindingMode, o.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
			return errs
		},
		Table: storageClassTable,
	}
}

// IsDefaultStorageClass reports the annotation that makes a class the one
// claims without a class get.
func IsDefaultStorageClass(sc *storagev1.StorageClass) bool {
	return sc.Annotations[DefaultStorageClassAnnotation] == "true"
}

func modesString(modes []corev1.PersistentVolumeAccessMode) string {
	short := map[corev1.PersistentVolumeAccessMode]string{corev1.ReadWriteOnce: "RWO", corev1.ReadOnlyMany: "ROX", corev1.ReadWriteMany: "RWX", corev1.ReadWriteOncePod: "RWOP"}
	var out []string
	for _, m := range modes {
		out = append(out, short[m])
	}
	return strings.Join(out, ",")
}

func volumeModeString(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}

func unsetOr(s *string) string {
	if s == nil || *s == "" {
		return "<unset>"
	}
	return *s
}

var pvTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Capacity", "string", "capacity is the description of the persistent volume's resources and capacity.", 0),
		col("Access Modes", "string", "accessModes contains all ways the volume can be mounted.", 0),
		col("Reclaim Policy", "string", "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.", 0),
		col("Status", "string", "phase indicates if a volume is available, bound to a claim, or released by a claim.", 0),
		col("Claim", "string", "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.", 0),
		col("StorageClass", "string", "storageClassName is the name of StorageClass to which this persistent volume belongs.", 0),
		col("VolumeAttributesClass", "string", "Name of VolumeAttributesClass to which this persistent volume belongs.", 0),
		col("Reason", "string", "reason is a brief CamelCase string that describes any failure.", 0),
		ageCol,
		col("VolumeMode", "string", "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.", 1)},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		pv := obj.(*corev1.PersistentVolume)
		claim := ""
		if r := pv.Spec.ClaimRef; r != nil {
			claim = r.Namespace + "/" + r.Name
		}
		capacity := pv.Spec.Capacity[corev1.ResourceStorage]
		name, age := nameAge(obj, now)
		return []interface{}{name, capacity.String(), modesString(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
			string(pv.Status.Phase), claim, pv.Spec.StorageClassName, unsetOr(pv.Spec.VolumeAttributesClassName), pv.Status.Reason, age,
			volumeModeString(pv.Spec.VolumeMode)}
	},
}

var pvcTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Status", "string", "phase represents the current phase of PersistentVolumeClaim.", 0),
		col("Volume", "string", "volumeName is the binding reference to the PersistentVolume backing this claim.", 0),
		col("Capacity", "string", "capacity represents the actual resources of the underlying volume.", 0),
		col("Access Modes", "string", "accessModes contains the actual access modes the volume backing the PVC has.", 0),
		col("StorageClass", "string", "storageClassName is the name of the StorageClass required by the claim.", 0),
		col("VolumeAttributesClass", "string", "volumeAttributesClassName may be used to set the VolumeAttributesClass used by this claim.", 0),
		ageCol,
		col("VolumeMode", "string", "volumeMode defines what type of volume is required by the claim.", 1)},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		c := obj.(*corev1.PersistentVolumeClaim)
		capacity, modes := "", ""
		if c.Spec.VolumeName != "" {
			q := c.Status.Capacity[corev1.ResourceStorage]
			capacity, modes = q.String(), modesString(c.Status.AccessModes)
		}
		class := ""
		if c.Spec.StorageClassName != nil {
			class = *c.Spec.StorageClassName
		}
		name, age := nameAge(obj, now)
		return []interface{}{name, string(c.Status.Phase), c.Spec.VolumeName, capacity, modes, class, unsetOr(c.Spec.VolumeAttributesClassName), age,
			volumeModeString(c.Spec.VolumeMode)}
	},
}

var storageClassTable = &TableSpec{
	Columns: []metav1.TableColumnDefinition{nameCol,
		col("Provisioner", "string", "provisioner indicates the type of the provisioner.", 0),
		col("ReclaimPolicy", "string", "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.", 0),
		col("VolumeBindingMode", "string", "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.", 0),
		col("AllowVolumeExpansion", "string", "allowVolumeExpansion shows whether the storage class allow volume expand.", 0),
		ageCol},
	Row: func(obj runtime.Object, now time.Time) []interface{} {
		sc := obj.(*storagev1.StorageClass)
		name, age := nameAge(obj, now)
		if IsDefaultStorageClass(sc) {
			name += " (default)"
		}
		expand := "false"
		if sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion {
			expand = "true"
		}
		mode, policy := "", ""
		if sc.VolumeBindingMode != nil {
			mode = string(*sc.VolumeBindingMode)
		}
		if sc.ReclaimPolicy != nil {
			policy = string(*sc.ReclaimPolicy)
		}
		return []interface{}{name, sc.Provisioner, policy, mode, expand, age}
	},
}
