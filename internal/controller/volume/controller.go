// Package volume binds PersistentVolumeClaims to PersistentVolumes, as
// kube-controller-manager's PV controller does, and is the default
// StorageClass's provisioner (svcnet.io/local-path): each claim of that
// class gets a directory of its own under the storage root, removed with
// its volume when the reclaim policy is Delete.
package volume

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	storageinformers "k8s.io/client-go/informers/storage/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/svcnet/svcnet/internal/kube"
)

// Provisioner is the name the default StorageClass gives.
const Provisioner = "svcnet.io/local-path"

// Controller binds claims and provisions local volumes.
type Controller struct {
	client   kubernetes.Interface
	claims   corelisters.PersistentVolumeClaimLister
	volumes  corelisters.PersistentVolumeLister
	classes  storagelisters.StorageClassLister
	root     string
	recorder record.EventRecorder
	claimQ   kube.Queue[string]
	volumeQ  kube.Queue[string]
	loops    []*kube.Loop[string]
}

// New wires the controller; root is where local volumes' directories go.
func New(client kubernetes.Interface, claimInf coreinformers.PersistentVolumeClaimInformer, volInf coreinformers.PersistentVolumeInformer,
	classInf storageinformers.StorageClassInformer, root string, recorder record.EventRecorder, log *slog.Logger) *Controller {
	c := &Controller{client: client, claims: claimInf.Lister(), volumes: volInf.Lister(), classes: classInf.Lister(), root: root, recorder: recorder,
		claimQ: kube.NewQueue[string]("pvc"), volumeQ: kube.NewQueue[string]("pv")}
	synced := []cache.InformerSynced{claimInf.Informer().HasSynced, volInf.Informer().HasSynced, classInf.Informer().HasSynced}
	c.loops = []*kube.Loop[string]{
		{Name: "persistentvolumeclaim", Queue: c.claimQ, Sync: c.syncClaim, Workers: 2, Log: log, Synced: synced},
		{Name: "persistentvolume", Queue: c.volumeQ, Sync: c.syncVolume, Workers: 1, Log: log, Synced: synced},
	}
	_, _ = claimInf.Informer().AddEventHandler(kube.EnqueueHandler(c.claimQ))
	_, _ = volInf.Informer().AddEventHandler(kube.EnqueueHandler(c.volumeQ))
	// A volume's change (new, released) may let a claim bind; a new default
	// class lets class-less claims go on.
	requeueClaims := func(interface{}) {
		claims, _ := c.claims.List(labels.Everything())
		for _, cl := range claims {
			if cl.Status.Phase != corev1.ClaimBound {
				kube.Enqueue(c.claimQ, cl)
			}
		}
	}
	_, _ = volInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: requeueClaims, UpdateFunc: func(_, o interface{}) { requeueClaims(o) }})
	_, _ = classInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: requeueClaims})
	// A deleted claim releases its volume.
	_, _ = claimInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj interface{}) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		if cl, ok := obj.(*corev1.PersistentVolumeClaim); ok && cl.Spec.VolumeName != "" {
			c.volumeQ.Add(cl.Spec.VolumeName)
		}
	}})
	return c
}

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	errs := make(chan error, len(c.loops))
	for _, l := range c.loops {
		go func() { errs <- l.Run(ctx) }()
	}
	var first error
	for range c.loops {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (c *Controller) syncClaim(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	claim, err := c.claims.PersistentVolumeClaims(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || claim.DeletionTimestamp != nil {
		return err
	}
	if claim.Status.Phase == corev1.ClaimBound {
		return nil
	}
	// A claim without a class gets the default one, as the DefaultStorageClass
	// admission plug-in and the retroactive assignment give it.
	if claim.Spec.StorageClassName == nil {
		classes, err := c.classes.List(labels.Everything())
		if err != nil {
			return err
		}
		def := DefaultClass(classes)
		if def == nil {
			return nil
		}
		upd := claim.DeepCopy()
		upd.Spec.StorageClassName = &def.Name
		_, err = c.client.CoreV1().PersistentVolumeClaims(ns).Update(ctx, upd, metav1.UpdateOptions{})
		return err
	}
	volumes, err := c.volumes.List(labels.Everything())
	if err != nil {
		return err
	}
	if v := Match(claim, volumes); v != nil {
		return c.bind(ctx, claim, v)
	}
	if *claim.Spec.StorageClassName == "" || claim.Spec.VolumeName != "" {
		return nil // waits for a matching volume
	}
	class, err := c.classes.Get(*claim.Spec.StorageClassName)
	if apierrors.IsNotFound(err) {
		c.recorder.Eventf(claim, corev1.EventTypeWarning, "ProvisioningFailed", "storageclass.storage.k8s.io %q not found", *claim.Spec.StorageClassName)
		return nil
	}
	if err != nil {
		return err
	}
	if class.Provisioner != Provisioner {
		c.recorder.Eventf(claim, corev1.EventTypeNormal, "ExternalProvisioning", "Waiting for a volume to be created either by the external provisioner '%s' or manually by the system administrator.", class.Provisioner)
		return nil
	}
	pv := Provision(claim, class, c.root)
	if err := os.MkdirAll(pv.Spec.HostPath.Path, 0o777); err != nil {
		c.recorder.Eventf(claim, corev1.EventTypeWarning, "ProvisioningFailed", "failed to provision volume with StorageClass %q: %v", class.Name, err)
		return err
	}
	_ = os.Chmod(pv.Spec.HostPath.Path, 0o777) // as local-path: any pod's user may write
	created, err := c.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = c.client.CoreV1().PersistentVolumes().Get(ctx, pv.Name, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	c.recorder.Eventf(claim, corev1.EventTypeNormal, "ProvisioningSucceeded", "Successfully provisioned volume %s", created.Name)
	return c.bind(ctx, claim, created)
}

// bind writes both halves of the binding: the volume's claimRef and phase,
// then the claim's volumeName and phase.
func (c *Controller) bind(ctx context.Context, claim *corev1.PersistentVolumeClaim, v *corev1.PersistentVolume) error {
	if r := v.Spec.ClaimRef; r == nil || r.UID != claim.UID {
		upd := v.DeepCopy()
		upd.Spec.ClaimRef = ClaimRef(claim)
		if upd.Annotations == nil {
			upd.Annotations = map[string]string{}
		}
		upd.Annotations[BoundByControllerAnnot] = "yes"
		var err error
		if v, err = c.client.CoreV1().PersistentVolumes().Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	if v.Status.Phase != corev1.VolumeBound {
		upd := v.DeepCopy()
		upd.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}
		if _, err := c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return err
		}
	}
	upd := claim.DeepCopy()
	if upd.Annotations == nil {
		upd.Annotations = map[string]string{}
	}
	upd.Annotations[BindCompletedAnnotation] = "yes"
	upd.Annotations[BoundByControllerAnnot] = "yes"
	upd.Spec.VolumeName = v.Name
	cur, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, upd, metav1.UpdateOptions{})
	if err != nil {
		return err
	}
	cur.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: v.Spec.AccessModes, Capacity: v.Spec.Capacity}
	_, err = c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
	return err
}

// syncVolume moves a volume's phase: Available when unclaimed, Released
// when its claim is gone — then deleted (and its directory removed) if its
// reclaim policy is Delete and svcnet provisioned it.
func (c *Controller) syncVolume(ctx context.Context, name string) error {
	v, err := c.volumes.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil || v.DeletionTimestamp != nil {
		return err
	}
	phase := v.Status.Phase
	switch r := v.Spec.ClaimRef; {
	case r == nil:
		phase = corev1.VolumeAvailable
	case r.UID == "":
		phase = corev1.VolumeAvailable // pre-bound, waiting for its claim
	default:
		claim, err := c.claims.PersistentVolumeClaims(r.Namespace).Get(r.Name)
		switch {
		case apierrors.IsNotFound(err) || (err == nil && claim.UID != r.UID):
			phase = corev1.VolumeReleased
		case err != nil:
			return err
		case claim.Spec.VolumeName == v.Name:
			phase = corev1.VolumeBound
		}
	}
	if phase == corev1.VolumeReleased && v.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete && v.Annotations[ProvisionedByAnnotation] == Provisioner {
		if hp := v.Spec.HostPath; hp != nil && c.owns(hp.Path) {
			if err := os.RemoveAll(hp.Path); err != nil {
				c.recorder.Eventf(v, corev1.EventTypeWarning, "VolumeFailedDelete", "%v", err)
				return err
			}
		}
		err := c.client.CoreV1().PersistentVolumes().Delete(ctx, v.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &v.UID}})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if phase == v.Status.Phase {
		return nil
	}
	upd := v.DeepCopy()
	upd.Status.Phase = phase
	_, err = c.client.CoreV1().PersistentVolumes().UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	return err
}

// owns: a path is a volume directory directly under the storage root.
func (c *Controller) owns(path string) bool {
	rel, err := filepath.Rel(c.root, path)
	return err == nil && c.root != "" && !strings.Contains(rel, string(filepath.Separator)) && strings.HasPrefix(rel, "pvc-")
}
