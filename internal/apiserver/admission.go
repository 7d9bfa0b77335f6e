package apiserver

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/svcnet/svcnet/internal/satoken"
)

// Admission of pods, as kube-apiserver's ServiceAccount and Priority
// plug-ins do it.

// RootCAConfigMap is the ConfigMap every namespace has with the cluster's
// CA (ca.crt), which pods' projected volumes read.
const RootCAConfigMap = "kube-root-ca.crt"

// tokenVolumePrefix names the projected volume a pod gets.
const tokenVolumePrefix = "kube-api-access-"

// admitPod gives a pod its ServiceAccount's token volume, unless it or
// its ServiceAccount opts out or it mounts one already, and resolves its
// priorityClassName into spec.priority.
func (s *Server) admitPod(ctx context.Context, p *corev1.Pod) error {
	if err := s.admitPriority(ctx, p); err != nil {
		return err
	}
	if s.cfg.ServiceAccounts == nil || p.Spec.ServiceAccountName == "" {
		return nil
	}
	automount := p.Spec.AutomountServiceAccountToken
	if automount == nil {
		if err := s.cacheSynced(ctx); err != nil {
			return err
		}
		if sa := s.cache.ServiceAccount(p.Namespace, p.Spec.ServiceAccountName); sa != nil {
			automount = sa.AutomountServiceAccountToken
		}
	}
	if automount != nil && !*automount {
		return nil
	}
	for _, v := range p.Spec.Volumes {
		if strings.HasPrefix(v.Name, tokenVolumePrefix) {
			return nil
		}
	}
	name := tokenVolumePrefix + utilrand.String(5)
	p.Spec.Volumes = append(p.Spec.Volumes, TokenVolume(name))
	mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: satoken.MountPath}
	for _, cs := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			if !mountsAt(cs[i].VolumeMounts, satoken.MountPath) {
				cs[i].VolumeMounts = append(cs[i].VolumeMounts, mount)
			}
		}
	}
	return nil
}

func mountsAt(ms []corev1.VolumeMount, path string) bool {
	for _, m := range ms {
		if m.MountPath == path {
			return true
		}
	}
	return false
}

// TokenVolume is the projected volume Kubernetes gives a pod: a token
// (an hour and seven seconds, refreshed), the cluster CA and the namespace.
func TokenVolume(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](0o644),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
				Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		},
	}}}
}

// admitPriority sets spec.priority from the pod's PriorityClass (or the
// global default one), refusing a class that does not exist.
func (s *Server) admitPriority(ctx context.Context, p *corev1.Pod) error {
	if err := s.cacheSynced(ctx); err != nil {
		return err
	}
	if p.Spec.PriorityClassName == "" {
		for _, pc := range s.cache.PriorityClasses() {
			if pc.GlobalDefault {
				p.Spec.PriorityClassName = pc.Name
			}
		}
		if p.Spec.PriorityClassName == "" {
			if p.Spec.Priority == nil {
				p.Spec.Priority = ptr.To[int32](0)
			}
			if p.Spec.PreemptionPolicy == nil {
				p.Spec.PreemptionPolicy = ptr.To(corev1.PreemptLowerPriority)
			}
			return nil
		}
	}
	pc := s.cache.PriorityClass(p.Spec.PriorityClassName)
	if pc == nil { // perhaps created a moment ago: ask etcd before refusing
		res, _ := s.reg.Resource(schema.GroupResource{Group: schedulingv1.GroupName, Resource: "priorityclasses"})
		if obj, err := s.reg.Get(ctx, res, "", p.Spec.PriorityClassName); err == nil {
			pc = obj.(*schedulingv1.PriorityClass)
		}
	}
	if pc == nil {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, p.Name,
			fmt.Errorf("no PriorityClass with name %s was found", p.Spec.PriorityClassName))
	}
	if p.Spec.Priority != nil && *p.Spec.Priority != pc.Value {
		return apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, p.Name,
			fmt.Errorf("the integer value of priority (%d) must not be provided in pod spec; priority admission controller computed %d from the given PriorityClass name", *p.Spec.Priority, pc.Value))
	}
	p.Spec.Priority = ptr.To(pc.Value)
	p.Spec.PreemptionPolicy = pc.PreemptionPolicy
	return nil
}
