// Package loadbalancer gives LoadBalancer Services an address, as k3s's
// ServiceLB or kind's cloud-provider-kind do: from a pool (--lb-range), a
// requested spec.loadBalancerIP when free, one per IP family the Service
// has and the pool covers; written to status.loadBalancer.ingress (ipMode
// VIP) where `kubectl get svc` shows it as EXTERNAL-IP, and served by the
// proxies. Services of another loadBalancerClass are left alone; an
// address goes back to the pool when its Service goes or changes type.
package loadbalancer

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/svcnet/svcnet/internal/kube"
)

// Class is svcnet's loadBalancerClass; Services without a class are
// svcnet's too.
const Class = "svcnet.io/load-balancer"

// Pool hands out addresses of some prefixes, each once.
type Pool struct {
	mu       sync.Mutex
	prefixes []netip.Prefix
	used     map[netip.Addr]string // address → Service key
}

// NewPool makes a pool of prefixes.
func NewPool(prefixes []netip.Prefix) *Pool {
	return &Pool{prefixes: prefixes, used: map[netip.Addr]string{}}
}

func (p *Pool) contains(a netip.Addr) bool {
	return slices.ContainsFunc(p.prefixes, func(pr netip.Prefix) bool { return pr.Contains(a) })
}

// Covers reports whether the pool has a prefix of a's family.
func (p *Pool) Covers(is6 bool) bool {
	return slices.ContainsFunc(p.prefixes, func(pr netip.Prefix) bool { return pr.Addr().Is6() == is6 })
}

// Hold marks a as key's; false when another holds it or it is outside.
func (p *Pool) Hold(a netip.Addr, key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.contains(a) {
		return false
	}
	if owner, ok := p.used[a]; ok && owner != key {
		return false
	}
	p.used[a] = key
	return true
}

// Next holds the first free address of family is6 for key.
func (p *Pool) Next(is6 bool, key string) (netip.Addr, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pr := range p.prefixes {
		if pr.Addr().Is6() != is6 {
			continue
		}
		// Skip the prefix's own (network) address.
		for a := pr.Masked().Addr().Next(); a.IsValid() && pr.Contains(a); a = a.Next() {
			if _, taken := p.used[a]; !taken {
				p.used[a] = key
				return a, nil
			}
		}
	}
	return netip.Addr{}, fmt.Errorf("no free address in %v", p.prefixes)
}

// Keep frees the addresses key holds but keep.
func (p *Pool) Keep(key string, keep []netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, k := range p.used {
		if k == key && !slices.Contains(keep, a) {
			delete(p.used, a)
		}
	}
}

// Release frees every address key holds, reporting whether it held any.
func (p *Pool) Release(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	freed := false
	for a, k := range p.used {
		if k == key {
			delete(p.used, a)
			freed = true
		}
	}
	return freed
}

// Ours: Services svcnet balances.
func Ours(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && (svc.Spec.LoadBalancerClass == nil || *svc.Spec.LoadBalancerClass == Class)
}

// Controller assigns load-balancer addresses.
type Controller struct {
	client   kubernetes.Interface
	svcs     corelisters.ServiceLister
	pool     *Pool
	recorder record.EventRecorder
	log      *slog.Logger
	queue    kube.Queue[string]
	loop     *kube.Loop[string]
	synced   cache.InformerSynced
}

// New wires the controller; it starts nothing.
func New(client kubernetes.Interface, svcInf coreinformers.ServiceInformer, pool *Pool, recorder record.EventRecorder, log *slog.Logger) *Controller {
	c := &Controller{client: client, svcs: svcInf.Lister(), pool: pool, recorder: recorder, log: log, synced: svcInf.Informer().HasSynced}
	c.queue = kube.NewQueue[string]("loadbalancer")
	c.loop = &kube.Loop[string]{Name: "loadbalancer", Queue: c.queue, Sync: c.sync, Workers: 1, Log: log, Synced: []cache.InformerSynced{c.synced}}
	_, _ = svcInf.Informer().AddEventHandler(kube.EnqueueHandler(c.queue))
	return c
}

// Run works until ctx ends; first it takes back the addresses Services
// already hold, so none is handed out twice across restarts.
func (c *Controller) Run(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return nil
	}
	svcs, _ := c.svcs.List(labels.Everything())
	for _, svc := range svcs {
		if !Ours(svc) {
			continue
		}
		key := svc.Namespace + "/" + svc.Name
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(in.IP); err == nil {
				c.pool.Hold(a, key)
			}
		}
	}
	return c.loop.Run(ctx)
}

func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, _ := cache.SplitMetaNamespaceKey(key)
	svc, err := c.svcs.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.release(key)
		return nil
	}
	if err != nil {
		return err
	}
	if !Ours(svc) {
		c.release(key)
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer && len(svc.Status.LoadBalancer.Ingress) > 0 {
			// No longer a load balancer: its address goes.
			next := svc.DeepCopy()
			next.Status.LoadBalancer = corev1.LoadBalancerStatus{}
			_, err := c.client.CoreV1().Services(ns).UpdateStatus(ctx, next, metav1.UpdateOptions{})
			return err
		}
		return nil
	}
	want, err := c.addresses(svc, key)
	if err != nil {
		c.recorder.Eventf(svc, corev1.EventTypeWarning, "AllocationFailed", "Failed to allocate an address: %v", err)
		c.log.Warn("load balancer: no address", "service", key, "err", err)
		return nil // a freed address or a wider pool requeues it
	}
	vip := corev1.LoadBalancerIPModeVIP
	var ingress []corev1.LoadBalancerIngress
	for _, a := range want {
		ingress = append(ingress, corev1.LoadBalancerIngress{IP: a.String(), IPMode: &vip})
	}
	if sameIngress(svc.Status.LoadBalancer.Ingress, ingress) {
		return nil
	}
	c.recorder.Event(svc, corev1.EventTypeNormal, "EnsuringLoadBalancer", "Ensuring load balancer")
	next := svc.DeepCopy()
	next.Status.LoadBalancer.Ingress = ingress
	if _, err := c.client.CoreV1().Services(ns).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		return err
	}
	c.recorder.Eventf(svc, corev1.EventTypeNormal, "EnsuredLoadBalancer", "Ensured load balancer: %v", want)
	return nil
}

// release frees key's addresses; the Services waiting for one try again.
func (c *Controller) release(key string) {
	if !c.pool.Release(key) {
		return
	}
	svcs, _ := c.svcs.List(labels.Everything())
	for _, svc := range svcs {
		if Ours(svc) && len(svc.Status.LoadBalancer.Ingress) == 0 {
			c.queue.Add(svc.Namespace + "/" + svc.Name)
		}
	}
}

// addresses are the Service's addresses, one per IP family it has that
// the pool covers: the ones it holds, a requested one, or the next free.
func (c *Controller) addresses(svc *corev1.Service, key string) ([]netip.Addr, error) {
	families := svc.Spec.IPFamilies
	if len(families) == 0 {
		families = []corev1.IPFamily{corev1.IPv4Protocol}
	}
	var out []netip.Addr
	for _, fam := range families {
		is6 := fam == corev1.IPv6Protocol
		if !c.pool.Covers(is6) {
			continue
		}
		var got netip.Addr
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if a, err := netip.ParseAddr(in.IP); err == nil && a.Is6() == is6 && c.pool.Hold(a, key) {
				got = a
			}
		}
		if req, err := netip.ParseAddr(svc.Spec.LoadBalancerIP); err == nil && req.Is6() == is6 && got != req {
			if !c.pool.Hold(req, key) {
				return nil, fmt.Errorf("the requested address %s is taken or outside the pool", req)
			}
			got = req
		}
		if !got.IsValid() {
			a, err := c.pool.Next(is6, key)
			if err != nil {
				return nil, err
			}
			got = a
		}
		out = append(out, got)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("the pool has no address of the Service's families %v", families)
	}
	c.pool.Keep(key, out)
	return out, nil
}

func sameIngress(a, b []corev1.LoadBalancerIngress) bool {
	return slices.EqualFunc(a, b, func(x, y corev1.LoadBalancerIngress) bool {
		return x.IP == y.IP && x.Hostname == y.Hostname && (x.IPMode == nil) == (y.IPMode == nil) && (x.IPMode == nil || *x.IPMode == *y.IPMode)
	})
}
