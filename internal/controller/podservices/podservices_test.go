package podservices

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	esutil "k8s.io/endpointslice/util"
)

// informer is an informer that is never run: the test fills its store.
func informer() cache.SharedIndexInformer {
	return cache.NewSharedIndexInformer(&cache.ListWatch{}, nil, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

// randomLabels draws labels from a small vocabulary so they often overlap;
// sometimes none.
func randomLabels(rnd *rand.Rand, max int) map[string]string {
	out := map[string]string{}
	for range rnd.IntN(max + 1) {
		out[[]string{"app", "tier", "track"}[rnd.IntN(3)]] = []string{"a", "b", "c"}[rnd.IntN(3)]
	}
	return out
}

// The indexes answer what a scan of the namespace answers: the pods a
// selector selects, and the Services a pod event touches (the latter
// checked against Kubernetes' own GetServicesToUpdate).
func TestIndexesMatchScans(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	pods, svcs := informer(), informer()
	Index(pods, svcs)
	var allPods []*corev1.Pod
	for i := range 300 {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%d", i%2), Name: fmt.Sprintf("p-%d", i), Labels: randomLabels(rnd, 3)}}
		allPods = append(allPods, p)
		if err := pods.GetIndexer().Add(p); err != nil {
			t.Fatal(err)
		}
	}
	var allSvcs []*corev1.Service
	for i := range 60 {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%d", i%2), Name: fmt.Sprintf("s-%d", i)}}
		switch i % 10 {
		case 0: // nil selector: selects nothing
		case 1:
			s.Spec.Selector = map[string]string{} // selects everything
		default:
			s.Spec.Selector = randomLabels(rnd, 2)
			if len(s.Spec.Selector) == 0 {
				s.Spec.Selector = map[string]string{"app": "a"}
			}
		}
		allSvcs = append(allSvcs, s)
		if err := svcs.GetIndexer().Add(s); err != nil {
			t.Fatal(err)
		}
	}
	lister := corelisters.NewServiceLister(svcs.GetIndexer())
	for _, s := range allSvcs {
		if s.Spec.Selector == nil {
			continue
		}
		got, err := SelectedPods(pods, s.Namespace, s.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, p := range allPods {
			if p.Namespace == s.Namespace && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(p.Labels)) {
				want = append(want, p.Name)
			}
		}
		var names []string
		for _, p := range got {
			names = append(names, p.Name)
		}
		slices.Sort(names)
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Fatalf("%s selector %v: %v, want %v", s.Name, s.Spec.Selector, names, want)
		}
	}
	for i := range 500 {
		p := allPods[rnd.IntN(len(allPods))]
		next := p.DeepCopy()
		next.Labels = randomLabels(rnd, 3)
		if rnd.IntN(2) == 0 {
			next.Status.PodIP = fmt.Sprintf("10.0.0.%d", i%250) // a change besides the labels
		}
		for _, key := range []*esutil.PodProjectionKey{
			{Namespace: p.Namespace, Labels: p.Labels, PodChanged: true},
			esutil.GetPodUpdateProjectionKey(p, next),
		} {
			if key == nil {
				continue
			}
			var got []string
			h := Handler(svcs, func(k string) { got = append(got, k) })
			if key.OldLabels == nil {
				h.OnAdd(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Labels: key.Labels}}, false)
			} else {
				h.OnUpdate(p, next)
			}
			want, err := esutil.GetServicesToUpdate(lister, key)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			if w := sortedKeys(want); !slices.Equal(got, w) {
				t.Fatalf("pod %v -> %v: enqueued %v, Kubernetes would %v", p.Labels, next.Labels, got, w)
			}
		}
	}
}

func sortedKeys[T comparable](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
