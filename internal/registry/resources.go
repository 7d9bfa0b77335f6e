package registry

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ScaleSpec reads and writes the replica count behind the scale subresource.
type ScaleSpec struct {
	Get      func(obj runtime.Object) (spec, status int32, selector *metav1.LabelSelector)
	Set      func(obj runtime.Object, replicas int32)
	Defaults func() int32
}

// Config carries what the strategies need from the server.
type Config struct {
	// Services allocates ClusterIPs and NodePorts.
	Services *ServiceStrategy
	// Nodes allocates pod CIDRs.
	Nodes *NodeStrategy
	// EventTTL is how long an Event is kept after its last write (0: forever).
	EventTTL time.Duration
}

var allVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// Verbs are the verbs every resource serves.
func Verbs() []string { return allVerbs }

func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// Resources builds the served resources, in discovery order. Each
// resource's strategy is in the file named after it.
func Resources(cfg Config) []*Resource {
	if cfg.Nodes == nil {
		cfg.Nodes = &NodeStrategy{}
	}
	return append([]*Resource{
		podResource(),
		serviceResource(cfg.Services),
		endpointsResource(),
		namespaceResource(),
		nodeResource(cfg.Nodes),
		eventResource(cfg.EventTTL),
		endpointSliceResource(),
		deploymentResource(),
		replicaSetResource(),
		statefulSetResource(),
		leaseResource(),
		podDisruptionBudgetResource(),
		ingressResource(),
		ingressClassResource(),
		configMapResource(),
		secretResource(),
		serviceAccountResource(),
		jobResource(),
		cronJobResource(),
		replicationControllerResource(),
		daemonSetResource(),
		controllerRevisionResource(),
		persistentVolumeResource(),
		persistentVolumeClaimResource(),
		storageClassResource(),
		limitRangeResource(),
		resourceQuotaResource(),
		horizontalPodAutoscalerResource(),
		networkPolicyResource(),
		priorityClassResource(),
		roleResource(false),
		roleResource(true),
		roleBindingResource(false),
		roleBindingResource(true),
	}, reviewResources()...)
}

func deref(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// Scale builds the autoscaling/v1 Scale view of an object.
func (r *Resource) ScaleOf(obj runtime.Object) (spec, status int32, selector string, err error) {
	if r.Scale == nil {
		return 0, 0, "", fmt.Errorf("%s has no scale subresource", r.GVR.Resource)
	}
	sp, st, sel := r.Scale.Get(obj)
	if sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err == nil {
			selector = s.String()
		}
	}
	return sp, st, selector, nil
}
